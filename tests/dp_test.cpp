// SPDX-License-Identifier: Apache-2.0
// The DP engine against independent references: per-example gradients from a loop over batches of
// one with plain autograd (Opacus's micro-batch oracle), Random123's known-answer vectors for
// Philox, and the measured statistics of the noise and of Poisson sampling.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "dpforge/core/error.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/clipping.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/core/random.h"
#include "dpforge/dp/noise.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/validate.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/models.h"
#include "kernels/philox.h"
#include "src/dp/device_ops.h"
#include "dpforge/train/steps.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Per-example gradients and norms must match the loop to 1e-6 relative in float64.
constexpr double kRelTol = 1e-6;

using LossFn = std::function<torch::Tensor(const torch::Tensor& output, const torch::Tensor& aux)>;

// Per-example losses: a fixed random nonlinear functional of the output, so that G is not trivial.
torch::Tensor probe_loss(const torch::Tensor& output, const torch::Tensor& weights) {
  return (torch::tanh(output) * weights).reshape({output.size(0), -1}).sum(1);
}

torch::Tensor flat(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : tensors) parts.push_back(t.reshape(-1));
  return torch::cat(parts);
}

// The oracle: gradient of example i alone, by ordinary backward on a batch of one.
std::vector<torch::Tensor> loop_gradients(torch::nn::Sequential& model, const torch::Tensor& input,
                                          const torch::Tensor& aux, const LossFn& loss) {
  std::vector<torch::Tensor> grads;
  const auto parameters = model->parameters();
  for (int64_t i = 0; i < input.size(0); ++i) {
    const auto out = model->forward(input.slice(0, i, i + 1));
    const auto total = loss(out, aux.slice(0, i, i + 1)).sum();
    grads.push_back(flat(torch::autograd::grad({total}, parameters)));
  }
  return grads;
}

struct EngineRun {
  GradTape tape;
  std::vector<torch::Tensor> output_grads;
};

void run_engine(torch::nn::Sequential& model, const torch::Tensor& input, const torch::Tensor& aux,
                const LossFn& loss, EngineRun& run) {
  torch::Tensor out;
  {
    TapeGuard guard(run.tape);
    out = model->forward(input);
  }
  run.output_grads = run.tape.output_gradients(loss(out, aux).sum());
}

// Flattens per-record clipped sums into the model's parameter order.
torch::Tensor flat_sums(torch::nn::Sequential& model, const GradTape& tape, const ClippedBatch& batch) {
  std::vector<torch::Tensor> ordered;
  for (const auto& parameter : model->parameters()) {
    torch::Tensor found;
    for (size_t l = 0; l < tape.records().size(); ++l) {
      const auto& r = tape.records()[l];
      if (r.weight.is_same(parameter)) found = batch.sums[l][0];
      if (r.bias.defined() && r.bias.is_same(parameter)) found = batch.sums[l][1];
    }
    EXPECT_TRUE(found.defined());
    ordered.push_back(found);
  }
  return flat(ordered);
}

void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, const std::string& what) {
  const double scale = expected.abs().max().item<double>() + 1e-12;
  const double error = (actual - expected).abs().max().item<double>();
  EXPECT_LE(error, kRelTol * scale) << what << ": max error " << error << " at scale " << scale;
}

// Checks norms, flat/per-layer/automatic clipped sums and the clipping bound against the oracle.
void check_against_loop(torch::nn::Sequential model, const torch::Tensor& input,
                        const torch::Tensor& aux, const LossFn& loss = probe_loss) {
  model->to(torch::kFloat64);
  model->train();
  const auto oracle = loop_gradients(model, input, aux, loss);
  std::vector<torch::Tensor> oracle_norms;
  for (const auto& g : oracle) oracle_norms.push_back(g.norm());
  const auto expected_norms = torch::stack(oracle_norms);

  EngineRun run;
  run_engine(model, input, aux, loss, run);
  const double median = expected_norms.median().item<double>();
  const auto clip = ClipOptions().max_grad_norm(median);
  const auto clipped = clip_and_sum(run.tape.records(), run.output_grads, clip);
  expect_close(clipped.norms, expected_norms, "per-example norms");

  // Flat clipping: Σ cᵢ gᵢ with cᵢ = min(1, C/(‖gᵢ‖ + 1e-6)); examples under C pass unchanged.
  auto expected_sum = torch::zeros_like(oracle[0]);
  for (size_t i = 0; i < oracle.size(); ++i) {
    const double c = std::min(1.0, median / (oracle_norms[i].item<double>() + 1e-6));
    EXPECT_LE(c * oracle_norms[i].item<double>(), median * (1 + 1e-6));
    if (oracle_norms[i].item<double>() < median) { EXPECT_EQ(c, 1.0); }
    expected_sum += c * oracle[i];
  }
  expect_close(flat_sums(model, run.tape, clipped), expected_sum, "flat clipped sum");

  // The training path (per_sample_layers: each G reduced as it arrives, inputs released) agrees.
  GradTape streamed;
  torch::Tensor out;
  {
    TapeGuard guard(streamed);
    out = model->forward(input);
  }
  auto layers = per_sample_layers(streamed, loss(out, aux).sum());
  const auto streamed_flat = clip_and_sum(std::move(layers), clip);
  expect_close(streamed_flat.norms, expected_norms, "per-example norms, training path");
  expect_close(flat_sums(model, streamed, streamed_flat), expected_sum, "flat clipped sum, training path");

  // Automatic clipping: cᵢ = C / (‖gᵢ‖ + γ).
  const auto automatic = clip_and_sum(run.tape.records(), run.output_grads,
                                      ClipOptions().max_grad_norm(median).mode(ClipMode::kAutomatic));
  expected_sum.zero_();
  for (size_t i = 0; i < oracle.size(); ++i) {
    expected_sum += median / (oracle_norms[i].item<double>() + 0.01) * oracle[i];
  }
  expect_close(flat_sums(model, run.tape, automatic), expected_sum, "automatic clipped sum");

  // Per-layer clipping: each layer's slice of gᵢ clipped to C/√L on its own.
  const auto per_layer = clip_and_sum(run.tape.records(), run.output_grads,
                                      ClipOptions().max_grad_norm(median).mode(ClipMode::kPerLayer));
  const double layer_bound = median / std::sqrt(static_cast<double>(run.tape.records().size()));
  std::vector<torch::Tensor> expected_parts;
  int64_t offset = 0;
  for (const auto& record : run.tape.records()) {
    const int64_t size = record.weight.numel() + (record.bias.defined() ? record.bias.numel() : 0);
    auto part = torch::zeros({size}, torch::kFloat64);
    for (const auto& g : oracle) {
      const auto slice = g.slice(0, offset, offset + size);
      part += std::min(1.0, layer_bound / (slice.norm().item<double>() + 1e-6)) * slice;
    }
    expected_parts.push_back(part);
    offset += size;
  }
  std::vector<torch::Tensor> actual_parts;
  for (const auto& sums : per_layer.sums) actual_parts.push_back(flat(sums));
  expect_close(torch::cat(actual_parts), torch::cat(expected_parts), "per-layer clipped sum");
}

torch::Tensor aux_for(torch::nn::Sequential& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  model->to(torch::kFloat64);
  return torch::randn_like(model->forward(input));
}

TEST(PerSample, LinearOnBatchOfVectors) {
  torch::manual_seed(1);
  torch::nn::Sequential model(nn::Linear(7, 5));
  const auto x = torch::randn({6, 7}, torch::kFloat64);
  check_against_loop(model, x, aux_for(model, x));
}

TEST(PerSample, LinearOnSequencesBothSidesOfTheMixedRule) {
  torch::manual_seed(2);
  {
    torch::nn::Sequential model(nn::Linear(8, 6));  // T=3: T·(p+d) = 42 ≤ p·d = 48 → ghost
    const auto x = torch::randn({4, 3, 8}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    GradTape tape;
    { TapeGuard guard(tape); model->forward(x); }
    EXPECT_TRUE(PerSampleLayer(tape.records()[0], torch::ones({4, 3, 6}, torch::kFloat64)).uses_ghost_norm());
  }
  {
    torch::nn::Sequential model(nn::Linear(3, 2));  // T=10: T·(p+d) = 50 > 6 → materialized
    const auto x = torch::randn({5, 10, 3}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    GradTape tape;
    { TapeGuard guard(tape); model->forward(x); }
    EXPECT_FALSE(PerSampleLayer(tape.records()[0], torch::ones({5, 10, 2}, torch::kFloat64)).uses_ghost_norm());
  }
  {
    // T=5: T·(p+d) = 80 > p·d = 64 → materialized (faster, and less kept than A and G), where
    // Bu et al.'s 2T² = 50 ≤ 64 would have chosen ghost.
    torch::nn::Sequential model(nn::Linear(8, 8));
    const auto x = torch::randn({4, 5, 8}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    GradTape tape;
    { TapeGuard guard(tape); model->forward(x); }
    EXPECT_FALSE(PerSampleLayer(tape.records()[0], torch::ones({4, 5, 8}, torch::kFloat64)).uses_ghost_norm());
  }
  {
    torch::nn::Sequential model(nn::Linear(nn::LinearOptions(4, 3).bias(false)));
    const auto x = torch::randn({3, 2, 4}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, Conv2dWithStridePaddingDilationBothRules) {
  torch::manual_seed(3);
  {
    // T = 25 positions, p·d = 4·27: materialized.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(3, 4, 3).stride(2).padding(1)));
    const auto x = torch::randn({3, 3, 9, 9}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // T = 4, p·d = 16·72: ghost.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(8, 16, 3).stride(2).dilation(2)));
    const auto x = torch::randn({4, 8, 7, 7}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // T = 400, p·d = 64·288, T·p·d = 7.4M multiply-adds per example: materialized by the
    // per-example convolution-backward loop (in the weight's own column order), not by im2col.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(32, 64, 3).stride(2).padding(2).dilation(2)));
    const auto x = torch::randn({3, 32, 40, 40}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // The same loop on a wide layer whose A and G (2 x 128·196 floats per example) are smaller
    // than its ∇Wᵢ (128·1152): only the norms are kept, the clipped sum is one batched call.
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(128, 128, 3).padding(1)));
    const auto x = torch::randn({3, 128, 14, 14}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    // im2col rows made a chunk of examples at a time (2^21 floats): T·d = 3600·400 gives one example
    // per chunk (materialized, T·p·d below the loop threshold); T·d = 16·16384 gives eight (ghost).
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(16, 2, 5).padding(2)));
    const auto x = torch::randn({3, 16, 60, 60}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
    torch::nn::Sequential wide(nn::Conv2d(nn::Conv2dOptions(256, 20, 8).stride(1)));
    const auto y = torch::randn({10, 256, 11, 11}, torch::kFloat64);
    check_against_loop(wide, y, aux_for(wide, y));
    GradTape tape;
    { TapeGuard guard(tape); wide->forward(y); }
    EXPECT_TRUE(PerSampleLayer(tape.records()[0], torch::ones({10, 20, 4, 4}, torch::kFloat64)).uses_ghost_norm());
  }
  {
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(2, 3, 2).bias(false).padding(1)));
    const auto x = torch::randn({1, 2, 4, 5}, torch::kFloat64);  // B = 1
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, NormLayers) {
  torch::manual_seed(4);
  {
    torch::nn::Sequential model(nn::Conv2d(nn::Conv2dOptions(2, 4, 3)), nn::GroupNorm(nn::GroupNormOptions(2, 4)));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_();
    }
    const auto x = torch::randn({3, 2, 6, 6}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
  {
    torch::nn::Sequential model(nn::Linear(6, 6), nn::LayerNorm(nn::LayerNormOptions({6})));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_();
    }
    const auto x = torch::randn({3, 5, 6}, torch::kFloat64);
    check_against_loop(model, x, aux_for(model, x));
  }
}

TEST(PerSample, EmbeddingWithRepeatsAndPadding) {
  torch::manual_seed(5);
  torch::nn::Sequential model(nn::Embedding(nn::EmbeddingOptions(10, 4).padding_idx(0)), nn::Linear(4, 3));
  const auto x = torch::tensor({{1, 2, 1, 0, 5, 1}, {0, 0, 3, 3, 3, 9}, {7, 8, 9, 2, 2, 0}}, torch::kLong);
  check_against_loop(model, x, aux_for(model, x));
}

TEST(PerSample, FullModelsWithCrossEntropy) {
  torch::manual_seed(6);
  const LossFn cross_entropy = [](const torch::Tensor& logits, const torch::Tensor& labels) {
    return torch::nn::functional::cross_entropy(
        logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  };
  const auto images = torch::rand({5, 1, 28, 28}, torch::kFloat64);
  const auto labels = torch::tensor({0, 3, 9, 3, 1}, torch::kLong);
  nn::ModelOptions options;
  check_against_loop(nn::make_model(options.arch(nn::Arch::kCnnTanh)), images, labels, cross_entropy);
  check_against_loop(nn::make_model(options.arch(nn::Arch::kMlp).mlp_hidden(16)), images, labels, cross_entropy);
}

TEST(Clipping, NonFiniteExampleIsDroppedAndCounted) {
  torch::manual_seed(7);
  torch::nn::Sequential model(nn::Linear(3, 2));
  model->to(torch::kFloat64);
  auto x = torch::randn({4, 3}, torch::kFloat64);
  x[2][1] = std::numeric_limits<double>::quiet_NaN();
  const auto aux = torch::randn({4, 2}, torch::kFloat64);
  EngineRun run;
  run_engine(model, x, aux, probe_loss, run);
  const auto clipped = clip_and_sum(run.tape.records(), run.output_grads, ClipOptions().max_grad_norm(1e9));
  EXPECT_EQ(clipped.dropped, 1);
  const auto keep = torch::tensor({0, 1, 3}, torch::kLong);
  auto oracle = loop_gradients(model, x.index_select(0, keep), aux.index_select(0, keep), probe_loss);
  expect_close(flat_sums(model, run.tape, clipped), oracle[0] + oracle[1] + oracle[2], "sum without NaN example");
}

TEST(Clipping, RowNormsSquaredAFewRowsAtATimeAgreeWithTheWholeBatchInFloat64) {
  torch::manual_seed(8);
  // float32 sums of 4k-70k squares against float64 ones: relative error well below 1e-5.
  constexpr double kFloatSumTolerance = 1e-5;
  // 257 x 4097 and 3 x 70000 are squared in several chunks (256 KiB each), the others at once.
  for (const auto& [b, n] : std::vector<std::pair<int64_t, int64_t>>{{257, 4097}, {3, 70000}, {64, 33}, {0, 5}}) {
    const auto rows = torch::randn({b, n});
    const auto norms = ops::reference::row_squared_norms(rows);
    ASSERT_EQ(norms.sizes(), torch::IntArrayRef({b})) << b << "x" << n;
    EXPECT_TRUE(torch::allclose(norms.to(torch::kFloat64), rows.to(torch::kFloat64).square().sum(1),
                                kFloatSumTolerance, 0.0))
        << b << "x" << n;
  }
}

TEST(Layers, RecordNothingInEvalModeOrWithoutATape) {
  nn::Linear layer(3, 2);
  GradTape tape;
  layer->forward(torch::randn({2, 3}));
  EXPECT_TRUE(tape.records().empty());
  {
    TapeGuard guard(tape);
    layer->eval();
    layer->forward(torch::randn({2, 3}));
  }
  EXPECT_TRUE(tape.records().empty());
}

// A DP forward forms no parameter gradient and keeps no layer output: a Linear's pre-activation
// under tanh (which saves only its own output) is freed with the forward's temporaries. Each
// layer's G reaches the consumer during the backward, equal to autograd's; an unreached layer's
// is zeros; with release_inputs, the tape no longer holds a consumed layer's input.
TEST(Layers, TapeHandsEachOutputGradientOverDuringTheBackward) {
  nn::Linear first(3, 4), unreached(3, 2);
  const auto x = torch::randn({5, 3});
  GradTape tape;
  torch::Tensor pre_activation, activated;
  {
    TapeGuard guard(tape);
    pre_activation = first->forward(x);
    activated = torch::tanh(pre_activation);
    unreached->forward(x);
  }
  const auto loss = activated.square().sum();
  const auto expected = torch::autograd::grad({loss}, {pre_activation}, {}, /*retain_graph=*/true)[0];
  const c10::weak_intrusive_ptr<c10::StorageImpl> storage(pre_activation.storage().getWeakStorageImpl());
  pre_activation.reset();
  EXPECT_TRUE(storage.expired()) << "a layer output outlived the forward";

  std::vector<torch::Tensor> grads(2);
  std::vector<bool> input_held_when_consumed;
  tape.backward(loss, [&](size_t l, const torch::Tensor& grad) {
    grads[l] = grad;
    input_held_when_consumed.push_back(tape.records()[l].input.defined());
  }, /*release_inputs=*/true);
  EXPECT_TRUE(torch::allclose(grads[0], expected));
  EXPECT_TRUE(torch::equal(grads[1], torch::zeros({5, 2})));
  EXPECT_EQ(input_held_when_consumed, std::vector<bool>({true, true}));
  EXPECT_FALSE(tape.records()[0].input.defined());
  EXPECT_FALSE(first->weight.grad().defined()) << "autograd formed a parameter gradient";
}

TEST(Noise, PhiloxMatchesRandom123KnownAnswers) {
  // Random123 kat_vectors: philox4x32 10, counter[4] key[2] → output[4].
  struct Kat {
    kernels::Philox4 counter;
    uint32_t key0, key1;
    kernels::Philox4 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const auto& kat : kats) {
    const auto out = kernels::philox4x32_10(kat.counter, kat.key0, kat.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], kat.expected.v[i]) << "word " << i;
  }
}

// The Box–Muller building blocks against libm in double, over 2^20 words of one Philox stream
// plus the ends of the range (u₁ = 2⁻³² and 1; angles at and around each quarter turn).
TEST(Noise, BranchFreeLogAndSincosAgreeWithLibm) {
  constexpr double kTwoPow32Inv = 0x1p-32;
  std::vector<uint32_t> words = {0, 1, 2, 0x7fffffff, 0xfffffffe, 0xffffffff};
  for (uint32_t quarter = 0; quarter < 4; ++quarter) {
    for (int delta = -2; delta <= 2; ++delta) words.push_back((quarter << 30) + static_cast<uint32_t>(delta));
    words.push_back((quarter << 30) + 0x20000000u);  // the octant boundary where the quadrant rounds
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
    if (exact != 0) worst_log_ulps = std::max(worst_log_ulps, std::abs(kernels::log_positive(u) - exact) / ulp);
    float sine = 0, cosine = 0;
    kernels::sincos_turns(word, sine, cosine);
    const double angle = static_cast<double>(word) * 2 * M_PI * kTwoPow32Inv;
    worst_trig = std::max({worst_trig, std::abs(sine - std::sin(angle)), std::abs(cosine - std::cos(angle))});
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
        EXPECT_EQ(mismatches, 0) << "secure " << secure << ", count " << count << ", threads " << thread_count;
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
    for (int64_t j = 0; j < 4; ++j) expected += plain.slice(0, 16 * block + 4 * j, 16 * block + 4 * j + 4);
    EXPECT_TRUE(torch::allclose(secure.slice(0, 4 * block, 4 * block + 4), 0.5 * expected, 1e-6, 1e-6));
  }
  constexpr int64_t n = 1 << 20;
  const auto z = philox_normals(n, 99, 0, true).to(torch::kFloat64);
  const double se = 1 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se / std::sqrt(2.0));
  EXPECT_NEAR(z.abs().gt(3).to(torch::kFloat64).mean().item<double>(), 0.0026998, 5 * std::sqrt(0.0027 / n));
  EXPECT_NEAR((z.pow(4)).mean().item<double>(), 3.0, 5 * std::sqrt(96.0 / n));
  EXPECT_TRUE(torch::equal(philox_normals(100, 99, 0, true), z.slice(0, 0, 100).to(torch::kFloat32)));
  EXPECT_NE(secure_random_seed(), secure_random_seed());
}

TEST(PhiloxUniform, RestoredPositionContinuesTheSameStream) {
  PhiloxUniform a(17);
  for (int i = 0; i < 5; ++i) a.next();  // mid-block: word 2
  PhiloxUniform b(17);
  b.restore(a.block(), a.word());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(a.next(), b.next());
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
  const auto expected = (torch::arange(10, torch::kFloat32) + 0.5 * philox_normals(10, 3, 5)) * 0.25;
  add_noise_and_scale_(values, 0.5, 0.25, 3, 5);
  EXPECT_TRUE(torch::allclose(values, expected));
}

TEST(PoissonSampler, BatchSizesAndInclusionFrequenciesMatchBinomial) {
  constexpr int64_t kN = 1000, kSteps = 4000;
  constexpr double kQ = 0.05;
  data::PoissonSampler sampler(kN, kQ, 99);
  std::vector<double> sizes;
  std::vector<int64_t> counts(kN, 0);
  for (int64_t step = 0; step < kSteps; ++step) {
    const auto batch = sampler.next();
    for (size_t i = 0; i < batch.size(); ++i) {
      ASSERT_GE(batch[i], 0);
      ASSERT_LT(batch[i], kN);
      if (i > 0) { ASSERT_LT(batch[i - 1], batch[i]); }  // ascending, distinct
      ++counts[static_cast<size_t>(batch[i])];
    }
    sizes.push_back(static_cast<double>(batch.size()));
  }
  const auto sizes_t = torch::tensor(sizes, torch::kFloat64);
  const double mean = kQ * kN, variance = kQ * kN * (1 - kQ);
  EXPECT_NEAR(sizes_t.mean().item<double>(), mean, 5 * std::sqrt(variance / kSteps));
  EXPECT_NEAR(sizes_t.var().item<double>(), variance, 5 * variance * std::sqrt(2.0 / (kSteps - 1)));
  // Each example's count is Binomial(kSteps, q): mean 200, sd 13.8; all 1000 within 5 sd.
  const double sd = std::sqrt(kSteps * kQ * (1 - kQ));
  for (int64_t count : counts) EXPECT_NEAR(static_cast<double>(count), kSteps * kQ, 5 * sd);
}

TEST(PoissonSampler, EdgeRates) {
  data::PoissonSampler none(50, 0.0, 1);
  EXPECT_TRUE(none.next().empty());
  data::PoissonSampler all(50, 1.0, 1);
  EXPECT_EQ(all.next().size(), 50U);
  data::PoissonSampler tiny(10, 1e-4, 1);
  int empty = 0;
  for (int i = 0; i < 100; ++i) empty += tiny.next().empty();
  EXPECT_GE(empty, 95);
}

TEST(Validate, RejectsBatchNormAndForeignParameterizedModules) {
  torch::nn::Sequential with_bn(nn::Conv2d(nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4));
  EXPECT_THAT([&] { nn::validate_model(*with_bn); },
              ::testing::ThrowsMessage<InputError>(AllOf(HasSubstr("BatchNorm2d"), HasSubstr("'model.1'"),
                                                         HasSubstr("GroupNorm"))));
  torch::nn::Sequential foreign(torch::nn::Linear(3, 2));
  EXPECT_THAT([&] { nn::validate_model(*foreign); },
              ::testing::ThrowsMessage<InputError>(AllOf(HasSubstr("'model.0'"), HasSubstr("dpforge::nn::Linear"))));
  nn::ModelOptions options;
  for (const char* arch : {"mlp", "cnn_tanh", "wrn16_4"}) {
    EXPECT_NO_THROW(nn::validate_model(*nn::make_model(options.arch(*nn::kArchNames.parse(arch))))) << arch;
  }
}

// A layer used twice in one forward (shared weights) gets one tape record per use, each normed on
// its own. The example's gradient of that weight is the sum of both uses, whose norm can exceed
// the square root of the summed squares by up to √2: its clipped contribution could exceed C.
TEST(Validate, RejectsAModuleUsedTwice) {
  nn::Linear shared(4, 4);
  torch::nn::Sequential model(shared, torch::nn::Tanh(), shared);
  EXPECT_THAT([&] { nn::validate_model(*model); },
              ::testing::ThrowsMessage<InputError>(AllOf(HasSubstr("'model.0'"), HasSubstr("'model.2'"),
                                                         HasSubstr("shared"))));
}

TEST(Layers, TapeRejectsALayerUsedTwiceInOneForward) {
  nn::Linear shared(4, 4);
  GradTape tape;
  TapeGuard guard(tape);
  const auto once = shared->forward(torch::randn({2, 4}));
  EXPECT_THAT([&] { shared->forward(torch::tanh(once)); },
              ::testing::ThrowsMessage<c10::Error>(HasSubstr("used twice in one DP forward")));
  tape.clear();  // a new forward on the same tape may use it again
  EXPECT_NO_THROW(shared->forward(torch::randn({2, 4})));
}

TEST(DpSgdStep, EmptyBatchStepIsNoiseOnlyAndCounted) {
  torch::nn::Sequential model(nn::Linear(3, 2));
  const auto before = flat(model->parameters()).clone();
  privacy::RdpAccountant accountant;
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(1.0));
  DpPlan plan;
  plan.dataset_size = 0;  // nothing to sample: the step is noise only
  plan.sample_rate = 0.1;
  plan.expected_batch_size = 4.0;
  plan.clip = ClipOptions().max_grad_norm(0.5);
  plan.noise_multiplier = 2.0;
  plan.noise_std = 1.0;
  const data::Dataset empty{torch::zeros({0, 3}), torch::zeros({0}, torch::kLong), 2};
  DpSgdState state{data::PoissonSampler(0, plan.sample_rate, 1), NoiseGenerator(42)};
  DpSgdTarget target{model, inner, empty, train::cross_entropy_loss(), 256};
  AccountantHook accounting(accountant, plan);
  std::vector<StepHook*> hooks{&accounting};
  const auto stats = dp_sgd_step(plan, state, target, hooks);
  EXPECT_EQ(stats.examples, 0);
  // Parameters in order (weight 6, bias 2) draw blocks 0-1 and 2; update = −lr·σC·z / (qN).
  const auto z_weight = philox_normals(6, 42, 0), z_bias = philox_normals(2, 42, 2);
  const auto expected = before - torch::cat({z_weight, z_bias}) * (2.0 * 0.5 / 4.0);
  EXPECT_TRUE(torch::allclose(flat(model->parameters()), expected, 1e-6, 1e-6));
  EXPECT_EQ(accountant.steps(), 1);
  EXPECT_EQ(state.noise.next_block(), 3U);
}

TEST(DpSgdStep, WithoutNoiseTheStepIsTheClippedSumOverTheExpectedBatch) {
  torch::manual_seed(8);
  torch::nn::Sequential model(nn::Linear(4, 3));
  model->to(torch::kFloat64);
  const auto x = torch::randn({5, 4}, torch::kFloat64);
  const auto aux = torch::randn({5, 3}, torch::kFloat64);
  const auto oracle = loop_gradients(model, x, aux, probe_loss);
  auto expected_sum = torch::zeros_like(oracle[0]);
  for (const auto& g : oracle) expected_sum += std::min(1.0, 0.3 / (g.norm().item<double>() + 1e-6)) * g;
  const auto before = flat(model->parameters()).clone();

  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.7));
  const auto clip = ClipOptions().max_grad_norm(0.3);
  NoiseGenerator noise(1);
  // Two physical batches accumulate into one logical step.
  ClippedSum sum(model->parameters());
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 5}}) {
    clip_and_accumulate(model, probe_loss, x.slice(0, begin, end), aux.slice(0, begin, end), clip, sum);
  }
  step_inner(model->parameters(), privatize(std::move(sum), 0.0, 8.0, noise), inner);
  // The sum is accumulated and noised in float32 (like the GPU path), hence the tolerance.
  EXPECT_TRUE(torch::allclose(flat(model->parameters()), before - 0.7 * expected_sum / 8.0, 1e-5, 1e-6));
}


// ---- GPU: every kernel against its CPU twin (ggml's rule). Named *_CUDA; skipped without a GPU. ----

#define DPF_REQUIRE_CUDA()                                                                        \
  do {                                                                                            \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to LibTorch";       \
    if (!cuda_kernels_available()) GTEST_SKIP() << "built without dpforge's CUDA kernels";   \
  } while (false)

// float32 kernels vs float32 torch on the CPU: sums in a different order.
constexpr double kCudaRelTol = 1e-5, kCudaAbsTol = 1e-6;

void expect_matches_cpu(const torch::Tensor& gpu, const torch::Tensor& cpu, const std::string& what) {
  ASSERT_TRUE(gpu.is_cuda()) << what;
  ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
  EXPECT_TRUE(torch::allclose(gpu.cpu(), cpu, kCudaRelTol, kCudaAbsTol))
      << what << ": max |diff| " << (gpu.cpu() - cpu).abs().max().item<double>();
}

// Batch x row shapes with odd sizes, B = 1 and empty batches.
const std::vector<std::pair<int64_t, int64_t>> kRowShapes = {{1, 1}, {1, 7}, {3, 1000}, {257, 4097}, {0, 5}, {64, 33}};

TEST(CudaKernels, RowSquaredNormsMatchCpu_CUDA) {
  DPF_REQUIRE_CUDA();
  torch::manual_seed(20);
  for (const auto& [b, n] : kRowShapes) {
    const auto rows = torch::randn({b, n});
    expect_matches_cpu(ops::row_squared_norms(rows.cuda()), ops::reference::row_squared_norms(rows),
                       fmt::format("row norms {}x{}", b, n));
  }
}

TEST(CudaKernels, WeightedRowSumAndScaleRowsMatchCpu_CUDA) {
  DPF_REQUIRE_CUDA();
  torch::manual_seed(21);
  for (const auto& [b, n] : kRowShapes) {
    const auto rows = torch::randn({b, n});
    const auto factors = torch::rand({b});
    expect_matches_cpu(ops::weighted_row_sum(factors.cuda(), rows.cuda()),
                       ops::reference::weighted_row_sum(factors, rows), fmt::format("weighted sum {}x{}", b, n));
    const auto g = torch::randn({b, 3, n});
    expect_matches_cpu(ops::scale_rows(g.cuda(), factors.cuda()), ops::reference::scale_rows(g, factors),
                       fmt::format("scale rows {}x3x{}", b, n));
  }
}

TEST(CudaKernels, FusedGhostNormsMatchCpu_CUDA) {
  DPF_REQUIRE_CUDA();
  torch::manual_seed(22);
  // (B, T, d, p): T = 1, below / at / above one 16-wide tile, long sequences, odd widths.
  const std::vector<std::array<int64_t, 4>> shapes = {
      {1, 1, 5, 3}, {4, 3, 8, 6}, {2, 16, 33, 17}, {5, 17, 64, 10}, {3, 64, 128, 512}, {0, 4, 4, 4}, {2, 200, 7, 9}};
  for (const auto& [b, t, d, p] : shapes) {
    const auto a = torch::randn({b, t, d});
    const auto g = torch::randn({b, t, p});
    const auto cpu = ops::reference::ghost_squared_norms(a, g);
    const auto gpu = ops::ghost_squared_norms(a.cuda(), g.cuda());
    // Sums of T² products: compare relative to each example's own norm.
    EXPECT_TRUE(torch::allclose(gpu.cpu(), cpu, 1e-4, 1e-3)) << fmt::format("ghost {}x{}x{}x{}", b, t, d, p);
  }
}

TEST(CudaKernels, ClipFactorsMatchCpuIncludingDroppedExamples_CUDA) {
  DPF_REQUIRE_CUDA();
  torch::manual_seed(23);
  for (const int64_t b : {1, 5, 300}) {
    std::vector<torch::Tensor> layers = {torch::rand({b}) * 4, torch::rand({b}), torch::rand({b}) * 0.01};
    layers[1][0] = std::numeric_limits<float>::quiet_NaN();
    if (b > 1) layers[0][b - 1] = std::numeric_limits<float>::infinity();
    std::vector<torch::Tensor> on_gpu;
    for (const auto& layer : layers) on_gpu.push_back(layer.cuda());
    for (const bool automatic : {false, true}) {
      const auto cpu = ops::reference::clip_factors(layers, 1.3, automatic, 0.01);
      const auto gpu = ops::clip_factors(on_gpu, 1.3, automatic, 0.01);
      EXPECT_EQ(gpu.dropped, cpu.dropped);
      expect_matches_cpu(gpu.factors, cpu.factors, fmt::format("factors b={} automatic={}", b, automatic));
      const auto finite = torch::isfinite(cpu.norms);
      EXPECT_TRUE(torch::equal(torch::isfinite(gpu.norms).cpu(), finite));
      EXPECT_TRUE(torch::allclose(gpu.norms.cpu().masked_select(finite), cpu.norms.masked_select(finite), 1e-6, 1e-7));
    }
  }
}

// The noise kernel and the CPU generator share kernels/philox.h and round alike (no FMA
// contraction on either side), so the GPU draws the CPU's values bit for bit, many tensors at once.
TEST(CudaKernels, NoiseIsBitIdenticalToCpuAndDeterministic_CUDA) {
  DPF_REQUIRE_CUDA();
  for (const bool secure : {false, true}) {
    std::vector<torch::Tensor> cpu, gpu;
    std::vector<uint64_t> first_blocks;
    NoiseGenerator stream(31, 5, secure);
    for (const int64_t size : {1, 7, 4096, 100003, 0, 3}) {  // 6 tensors incl. an empty one
      cpu.push_back(torch::randn({size}));
      gpu.push_back(cpu.back().cuda());
      first_blocks.push_back(stream.reserve(size));
    }
    add_noise_and_scale_many_(cpu, first_blocks, 0.7, 0.01, 31, secure);
    auto again = gpu;
    for (auto& t : again) t = t.clone();
    add_noise_and_scale_many_(gpu, first_blocks, 0.7, 0.01, 31, secure);
    add_noise_and_scale_many_(again, first_blocks, 0.7, 0.01, 31, secure);
    for (size_t k = 0; k < cpu.size(); ++k) {
      EXPECT_TRUE(torch::equal(gpu[k].cpu(), cpu[k])) << "tensor " << k << " secure " << secure;
      EXPECT_TRUE(torch::equal(gpu[k], again[k])) << "same seed, same bits: tensor " << k;
    }
  }
  // More tensors than one launch carries (48): still the values of separate calls.
  std::vector<torch::Tensor> many_cpu, many_gpu;
  std::vector<uint64_t> blocks;
  for (int k = 0; k < 100; ++k) {
    many_cpu.push_back(torch::zeros({k + 1}));
    many_gpu.push_back(many_cpu.back().cuda());
    blocks.push_back(static_cast<uint64_t>(1000 * k));
  }
  add_noise_and_scale_many_(many_cpu, blocks, 1.0, 1.0, 9, false);
  add_noise_and_scale_many_(many_gpu, blocks, 1.0, 1.0, 9, false);
  for (int k = 0; k < 100; ++k) EXPECT_TRUE(torch::equal(many_gpu[k].cpu(), many_cpu[k])) << k;
}

TEST(CudaKernels, NoiseStatisticsOverAMillionDraws_CUDA) {
  DPF_REQUIRE_CUDA();
  constexpr int64_t n = 1 << 20;
  auto values = torch::zeros({n}, torch::TensorOptions().device(torch::kCUDA));
  add_noise_and_scale_(values, 1.0, 1.0, 4242, 0);
  const auto z = values.cpu().to(torch::kFloat64);
  const double se = 1 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se / std::sqrt(2.0));
  EXPECT_NEAR(z.abs().gt(3).to(torch::kFloat64).mean().item<double>(), 0.0026998, 5 * std::sqrt(0.0027 / n));
}

// A short DP-SGD run on the GPU follows the CPU's loss curve: same initial weights, same batches,
// bit-identical noise; only float rounding of the GEMMs differs.
TEST(CudaTraining, ShortDpRunFollowsTheCpuLossCurve_CUDA) {
  DPF_REQUIRE_CUDA();
  auto run = [](const torch::Device& device) {
    torch::manual_seed(5);
    auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kCnnTanh));
    const auto images = torch::rand({256, 1, 28, 28});
    const auto labels = torch::randint(10, {256}, torch::kLong);
    model->to(device);
    torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.5));
    NoiseGenerator noise(77);
    const auto clip = ClipOptions().max_grad_norm(1.0);
    std::vector<double> losses;
    for (int64_t step = 0; step < 20; ++step) {
      const auto index = torch::arange(step % 4 * 64, step % 4 * 64 + 64, torch::kLong);
      const auto x = images.index_select(0, index).to(device), y = labels.index_select(0, index).to(device);
      ClippedSum sum(model->parameters());
      const auto stats = clip_and_accumulate(model, train::cross_entropy_loss(), x, y, clip, sum);
      step_inner(model->parameters(), privatize(std::move(sum), 0.5, 64, noise), inner);
      losses.push_back(stats.loss_sum / 64);
    }
    return losses;
  };
  const auto cpu = run(torch::kCPU);
  const auto gpu = run(torch::Device(torch::kCUDA, 0));
  for (size_t step = 0; step < cpu.size(); ++step) EXPECT_NEAR(gpu[step], cpu[step], 1e-3 * (1 + cpu[step])) << step;
}

}  // namespace
}  // namespace dpforge::dp
