// SPDX-License-Identifier: Apache-2.0
// Gaussian noise: Philox against Random123's known answers, the Box-Muller pieces against libm,
// vectorized and threaded draws against the scalar reference, and the measured statistics.
#include "dpforge/dp/noise.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "dpforge/core/random.h"
#include "dpforge/privacy/bounded_noise.h"
#include "kernels/philox.h"
#include "src/dp/philox_cpu.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Noise, PhiloxMatchesRandom123KnownAnswers) {
  // Random123 kat_vectors: philox4x32 10, counter[4] key[2] → output[4].
  struct Kat {
    kernels::Philox4 counter;
    uint32_t key0, key1;
    kernels::Philox4 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const auto& kat : kats) {
    const auto out = kernels::philox4x32_10(kat.counter, kat.key0, kat.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], kat.expected.v[i]) << "word " << i;
  }
}

// The noise kernel draws its words from cuRAND (curand_init(seed, subsequence, 0) then curand4
// twice); the CPU twin computes the same counters itself. cuRAND's documented layout: key =
// (seed mod 2^32, seed / 2^32), counter = (offset/4 in the two low words, subsequence in the two
// high words), the low words advancing by one per curand4. Random123's known answers, mapped
// through that layout, are what cuRAND's first curand4 returns; the CPU twin must return them too.
TEST(Noise, CpuTwinFollowsCuRandsPhiloxLayout) {
  // Random123's philox4x32-10 answer for counter 0, key 0 = curand_init(0, 0, 0) + curand4.
  uint32_t words[8];
  kernels::subsequence_words8(/*seed=*/0, /*subsequence=*/0, words);
  const uint32_t expected[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(words[i], expected[i]) << "word " << i;
  // Random123's pi-digits answer as cuRAND state: seed = key1·2^32 + key0, subsequence =
  // ctr3·2^32 + ctr2; the second curand4 is the counter whose low words are one more.
  const uint64_t seed = (uint64_t{0x299f31d0} << 32) | 0xa4093822;
  const uint64_t subsequence = (uint64_t{0x03707344} << 32) | 0x13198a2e;
  kernels::subsequence_words8(seed, subsequence, words);
  const auto at0 = kernels::philox4x32_10(kernels::Philox4{{0, 0, 0x13198a2e, 0x03707344}},
                                          0xa4093822, 0x299f31d0);
  const auto at1 = kernels::philox4x32_10(kernels::Philox4{{1, 0, 0x13198a2e, 0x03707344}},
                                          0xa4093822, 0x299f31d0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(words[i], at0.v[i]);
    EXPECT_EQ(words[4 + i], at1.v[i]);
  }
  const auto kat = kernels::philox4x32_10(
      kernels::Philox4{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0);
  EXPECT_EQ(kat.v[0], 0xd16cfe09u);  // = curand_init(seed, subsequence, 4·0x85a308d3243f6a88)
}

// The radius is drawn from 64 bits: its largest value is √(−2 log 2⁻⁶⁴) = √(128 ln 2) = 9.42σ
// (32 bits stopped at 6.66σ), so the tail beyond 6.66σ has the Gaussian's mass.
TEST(Noise, BoxMullerRadiusReachesNinePointFourSigma) {
  float z0 = 0, z1 = 0;
  kernels::box_muller(0, 0, /*angle=*/0, z0, z1);
  EXPECT_NEAR(z0, std::sqrt(128 * std::log(2.0)), 1e-5);
  EXPECT_EQ(z1, 0.0f);
  kernels::box_muller(0xffffffff, 0xffffffff, 0, z0, z1);
  EXPECT_NEAR(z0, 0.0, 1e-9);  // u₁ = 1
  EXPECT_NEAR(kernels::log_positive(0x1p-64), -64 * std::log(2.0), 1e-13);
}

// The support privacy/bounded_noise.h accounts for is the sampler's own: no pair leaves the disk of
// radius R (2R secure), and a pair shifted by a·C leaves it at most as often as A(a) says. Measured
// over 2^22 pairs at σ = 0.2, where A(1) = e^{−(R − 5)²/2} ≈ 5.7e-5 is large enough to observe.
TEST(Noise, PairsStayInTheSupportTheAccountingAssumes) {
  constexpr int64_t kPairs = 1 << 22;
  const double radius = privacy::box_muller_radius();
  EXPECT_NEAR(radius, std::sqrt(128 * std::log(2.0)), 1e-12);
  for (const bool secure : {false, true}) {
    const auto z = philox_normals(2 * kPairs, 7, 0, secure).to(torch::kFloat64).view({kPairs, 2});
    const auto norms = z.norm(2, 1);
    const double limit = secure ? 2 * radius : radius;
    EXPECT_LE(norms.max().item<double>(), limit * (1 + 1e-6)) << secure;
    const auto support = privacy::sampler_support(secure);
    EXPECT_LE(support.radius, limit);
    // Shifted by 5 noise units along x: how often the shifted pair leaves the disk.
    const double sigma = 0.2;
    const auto shifted = (z + torch::tensor({1 / sigma, 0.0}, torch::kFloat64)).norm(2, 1);
    const double escaped = shifted.gt(limit).to(torch::kFloat64).mean().item<double>();
    const double bound = privacy::bounded_noise_step_delta(
        support, {.noise_multiplier = sigma, .steps = 1, .coordinates = 1});
    EXPECT_LE(escaped, bound + 4 * std::sqrt(bound / kPairs)) << secure;
    if (!secure) EXPECT_GT(escaped, bound / 100);  // the bound is of the right order
  }
}

// The bound's shape: one pair gives A(sensitivity) exactly; more noise, fewer steps, fewer
// coordinates and the secure sampler each lower it; replace-one (sensitivity 2) raises it.
TEST(Noise, BoundedSupportDeltaFollowsItsFormula) {
  const auto plain = privacy::sampler_support(false), secure = privacy::sampler_support(true);
  const double r = plain.radius;
  EXPECT_NEAR(privacy::bounded_noise_step_delta(plain, {.noise_multiplier = 0.5, .coordinates = 1}),
              std::exp(-0.5 * (r - 2) * (r - 2)), 1e-24);
  const privacy::BoundedNoiseRun run{
      .noise_multiplier = 0.5, .steps = 10000, .coordinates = 1'000'000};
  const double base = privacy::bounded_noise_delta(plain, run);
  EXPECT_GT(base, 1e-8);
  EXPECT_LT(base, 1e-7);
  auto changed = run;
  changed.noise_multiplier = 0.6;
  EXPECT_LT(privacy::bounded_noise_delta(plain, changed), base);
  changed = run;
  changed.steps = 1000;
  EXPECT_NEAR(privacy::bounded_noise_delta(plain, changed), base / 10, base * 1e-12);
  changed = run;
  changed.coordinates = 1000;
  EXPECT_LT(privacy::bounded_noise_delta(plain, changed), base);
  changed = run;
  changed.sensitivity = 2;
  EXPECT_GT(privacy::bounded_noise_delta(plain, changed), 1e3 * base);
  EXPECT_LT(privacy::bounded_noise_delta(secure, run), 1e-40);
  // At σ = 0.05 the plain pair's disk no longer covers a shift: certain escape, δ capped at 1.
  changed = run;
  changed.noise_multiplier = 0.05;
  EXPECT_EQ(privacy::bounded_noise_delta(plain, changed), 1.0);
}

// The Box–Muller building blocks against libm in double, over 2^20 words of one Philox stream
// plus the ends of the range (u₁ = 2⁻³² and 1; angles at and around each quarter turn).
TEST(Noise, BranchFreeLogAndSincosAgreeWithLibm) {
  constexpr double kTwoPow32Inv = 0x1p-32;
  std::vector<uint32_t> words = {0, 1, 2, 0x7fffffff, 0xfffffffe, 0xffffffff};
  for (uint32_t quarter = 0; quarter < 4; ++quarter) {
    for (int delta = -2; delta <= 2; ++delta)
      words.push_back((quarter << 30) + static_cast<uint32_t>(delta));
    words.push_back((quarter << 30) +
                    0x20000000u);  // the octant boundary where the quadrant rounds
    words.push_back((quarter << 30) + 0x1fffffffu);
  }
  for (uint64_t block = 0; block < (1 << 18); ++block) {
    const auto bits = kernels::philox4x32_10(5, block);
    words.insert(words.end(), bits.v, bits.v + 4);
  }
  double worst_log_ulps = 0, worst_trig = 0;
  for (const uint32_t word : words) {
    const double u = (static_cast<double>(word) + 1.0) * kTwoPow32Inv;
    const double exact = std::log(u);
    const double ulp = std::abs(std::nextafter(exact, 0.0) - exact);
    if (exact != 0)
      worst_log_ulps = std::max(worst_log_ulps, std::abs(kernels::log_positive(u) - exact) / ulp);
    float sine = 0, cosine = 0;
    kernels::sincos_turns(word, sine, cosine);
    const double angle = static_cast<double>(word) * 2 * M_PI * kTwoPow32Inv;
    worst_trig = std::max(
        {worst_trig, std::abs(sine - std::sin(angle)), std::abs(cosine - std::cos(angle))});
  }
  EXPECT_EQ(kernels::log_positive(1.0), 0.0);
  EXPECT_LE(worst_log_ulps, 1.0);
  EXPECT_LE(worst_trig, 2.5e-7);  // ≈ 2 ulp of float near 1, from rounding the angle to float
}

// The CPU generator runs a vectorized build chosen at load time and splits work across threads;
// neither may change a value: each one equals the scalar reference (the code the CUDA kernel
// runs) bit for bit, for odd sizes and offsets, plain and secure, with 1 and 2 threads.
TEST(Noise, VectorizedAndThreadedDrawsEqualTheScalarReference) {
  const int threads = torch::get_num_threads();
  for (const bool secure : {false, true}) {
    for (const int64_t count : {int64_t{1}, int64_t{7}, int64_t{513}, int64_t{100003}}) {
      for (const int thread_count : {1, 2}) {
        torch::set_num_threads(thread_count);
        const auto drawn = philox_normals(count, 77, /*first_block=*/9, secure);
        const float* values = drawn.data_ptr<float>();
        int64_t mismatches = 0;
        for (int64_t i = 0; i < count; i += 4) {
          float z[4];
          const uint64_t block = 9 + static_cast<uint64_t>(i / 4);
          if (secure) {
            kernels::philox_secure_normal4(77, block, z);
          } else {
            kernels::philox_normal4(77, block, z);
          }
          for (int64_t j = i; j < std::min(count, i + 4); ++j) {
            mismatches += std::memcmp(&values[j], &z[j - i], sizeof(float)) != 0;
          }
        }
        EXPECT_EQ(mismatches, 0) << "secure " << secure << ", count " << count << ", threads "
                                 << thread_count;
      }
    }
  }
  torch::set_num_threads(threads);
}

TEST(Noise, StandardNormalStatisticsOverAMillionDraws) {
  constexpr int64_t n = 1 << 20;
  const auto z = philox_normals(n, /*seed=*/12345, /*first_block=*/0).to(torch::kFloat64);
  const double se = 1 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se / std::sqrt(2.0));
  // Tails: P(|z| > 3) = 0.0026998; binomial standard error.
  const double tail = z.abs().gt(3).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(tail, 0.0026998, 5 * std::sqrt(0.0027 / n));
  EXPECT_NEAR((z.pow(4)).mean().item<double>(), 3.0, 5 * std::sqrt(96.0 / n));
}

TEST(Noise, SecureStreamIsHalvedSumOfFourPlainBlocksWithNormalStatistics) {
  // By construction: secure block b = (plain blocks 4b … 4b+3) summed, halved.
  const auto secure = philox_normals(8, 21, /*first_block=*/3, /*secure=*/true);
  const auto plain = philox_normals(32, 21, /*first_block=*/12);
  for (int64_t block = 0; block < 2; ++block) {
    auto expected = torch::zeros({4});
    for (int64_t j = 0; j < 4; ++j)
      expected += plain.slice(0, 16 * block + 4 * j, 16 * block + 4 * j + 4);
    EXPECT_TRUE(
        torch::allclose(secure.slice(0, 4 * block, 4 * block + 4), 0.5 * expected, 1e-6, 1e-6));
  }
  constexpr int64_t n = 1 << 20;
  const auto z = philox_normals(n, 99, 0, true).to(torch::kFloat64);
  const double se = 1 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se / std::sqrt(2.0));
  EXPECT_NEAR(z.abs().gt(3).to(torch::kFloat64).mean().item<double>(), 0.0026998,
              5 * std::sqrt(0.0027 / n));
  EXPECT_NEAR((z.pow(4)).mean().item<double>(), 3.0, 5 * std::sqrt(96.0 / n));
  EXPECT_TRUE(
      torch::equal(philox_normals(100, 99, 0, true), z.slice(0, 0, 100).to(torch::kFloat32)));
  EXPECT_NE(secure_random_seed(), secure_random_seed());
}

TEST(Noise, SeedAndOffsetNameTheStream) {
  const auto a = philox_normals(1000, 7, 0);
  EXPECT_TRUE(torch::equal(a, philox_normals(1000, 7, 0)));  // identical bits
  // Offsets index into one stream: block 10 starts at normal 40.
  EXPECT_TRUE(torch::equal(philox_normals(960, 7, 10), a.slice(0, 40)));
  // Different seeds, and disjoint offsets, are uncorrelated.
  constexpr int64_t n = 200000;
  const auto x = philox_normals(n, 7, 0).to(torch::kFloat64);
  const auto y = philox_normals(n, 8, 0).to(torch::kFloat64);
  const auto w = philox_normals(n, 7, n / 4).to(torch::kFloat64);
  EXPECT_NEAR((x * y).mean().item<double>(), 0.0, 5 / std::sqrt(static_cast<double>(n)));
  EXPECT_NEAR((x * w).mean().item<double>(), 0.0, 5 / std::sqrt(static_cast<double>(n)));
}

TEST(Noise, AddNoiseAndScaleIsSumPlusNoiseTimesScale) {
  auto values = torch::arange(10, torch::kFloat32);
  const auto expected =
      (torch::arange(10, torch::kFloat32) + 0.5 * philox_normals(10, 3, 5)) * 0.25;
  add_noise_and_scale_(values, 0.5, 0.25, 3, 5);
  EXPECT_TRUE(torch::allclose(values, expected));
}

}  // namespace
}  // namespace dpforge::dp
