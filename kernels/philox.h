// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 (Salmon et al., SC'11) in cuRAND's stream layout and Box–Muller, shared verbatim by
// the CPU noise generator and the CUDA noise kernel (which draws its words from cuRAND), so that
// one (seed, offset) names the same Gaussian stream on both. Plain C++ when compiled by a host
// compiler; __host__ __device__ under nvcc.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#include <curand_kernel.h>
#define DPF_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define DPF_HOST_DEVICE inline
#endif

namespace dpforge::kernels {

struct Philox4 {
  uint32_t v[4];
};

DPF_HOST_DEVICE void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Philox4x32-10 on a full 128-bit counter and 64-bit key (Random123's philox4x32_R(10, ctr, key)).
DPF_HOST_DEVICE Philox4 philox4x32_10(Philox4 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = counter.v[0], c1 = counter.v[1], c2 = counter.v[2], c3 = counter.v[3];
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kMul0, c0, hi0, lo0);
    philox_mulhilo(kMul1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ key0, n1 = lo1, n2 = hi0 ^ c3 ^ key1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Block `block` of stream `seed`: 4 independent uniform 32-bit words (counter = block, key = seed)
// — cuRAND's subsequence 0 at offset 4·block. The sampler and the auditor draw uniforms from it.
DPF_HOST_DEVICE Philox4 philox4x32_10(uint64_t seed, uint64_t block) {
  const Philox4 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// The first 8 words of cuRAND's Philox4_32_10 stream `subsequence` of `seed`, i.e. of
//   curand_init(seed, subsequence, /*offset=*/0, &state); curand4(&state); curand4(&state);
// cuRAND documents the layout (curand_kernel.h, curand_philox4x32_x.h): key = (seed mod 2^32,
// seed / 2^32), counter = (offset/4 as two low words, subsequence as two high words), advancing the
// low words by one per curand4. On the GPU the words come from cuRAND itself; the host computes the
// same counters with the Philox above, which tests/dp/noise_test.cpp checks against Random123's
// known answers mapped through that layout.
DPF_HOST_DEVICE void subsequence_words8(uint64_t seed, uint64_t subsequence, uint32_t words[8]) {
#if defined(__CUDA_ARCH__)
  curandStatePhilox4_32_10_t state;
  curand_init(seed, subsequence, 0, &state);
  const uint4 first = curand4(&state), second = curand4(&state);
  words[0] = first.x, words[1] = first.y, words[2] = first.z, words[3] = first.w;
  words[4] = second.x, words[5] = second.y, words[6] = second.z, words[7] = second.w;
#else
  const uint32_t key0 = static_cast<uint32_t>(seed), key1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t sub0 = static_cast<uint32_t>(subsequence),
                 sub1 = static_cast<uint32_t>(subsequence >> 32);
  const Philox4 first = philox4x32_10(Philox4{{0, 0, sub0, sub1}}, key0, key1);
  const Philox4 second = philox4x32_10(Philox4{{1, 0, sub0, sub1}}, key0, key1);
  for (int i = 0; i < 4; ++i) {
    words[i] = first.v[i];
    words[4 + i] = second.v[i];
  }
#endif
}

DPF_HOST_DEVICE uint64_t double_bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t bits;
  __builtin_memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}

DPF_HOST_DEVICE double double_from_bits(uint64_t bits) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double x;
  __builtin_memcpy(&x, &bits, sizeof x);
  return x;
#endif
}

// Natural log of a positive normal double, branch-free (fdlibm's e_log.c without its special
// cases: reduce to m·2^k with m ∈ [√2/2, √2), then a degree-14 odd minimax in s = (m−1)/(m+1);
// < 1 ulp). Only +, −, ×, ÷ and bit operations, so a host compiler can vectorize a loop of them
// and CPU and GPU round identically when neither contracts a·b+c into an FMA (see the build).
DPF_HOST_DEVICE double log_positive(double x) {
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kLg1 = 6.666666666666735130e-01, kLg2 = 3.999999999940941908e-01,
                   kLg3 = 2.857142874366239149e-01, kLg4 = 2.222219843214978396e-01,
                   kLg5 = 1.818357216161805012e-01, kLg6 = 1.531383769920937332e-01,
                   kLg7 = 1.479819860511658591e-01;
  uint64_t bits = double_bits(x);
  uint32_t high = static_cast<uint32_t>(bits >> 32) + (0x3ff00000u - 0x3fe6a09eu);
  const int32_t k = static_cast<int32_t>(high >> 20) - 0x3ff;
  high = (high & 0x000fffffu) + 0x3fe6a09eu;
  bits = (static_cast<uint64_t>(high) << 32) | (bits & 0xffffffffu);
  const double f = double_from_bits(bits) - 1.0, half_f2 = 0.5 * f * f, s = f / (2.0 + f),
               z = s * s, w = z * z;
  const double odd = w * (kLg2 + w * (kLg4 + w * kLg6));
  const double even = z * (kLg1 + w * (kLg3 + w * (kLg5 + w * kLg7)));
  const double dk = static_cast<double>(k);
  return s * (half_f2 + (even + odd)) + dk * kLn2Lo - half_f2 + f + dk * kLn2Hi;
}

// sin and cos of the angle 2π·turns/2³², branch-free. The quadrant comes exactly from the top
// bits of `turns` (no Cody–Waite reduction error), the remainder r ∈ [−π/4, π/4) goes through
// Cephes's sinf/cosf minimax polynomials (≈ 1 ulp of float).
DPF_HOST_DEVICE void sincos_turns(uint32_t turns, float& sine, float& cosine) {
  constexpr float kTwoPiOver2Pow32 = 1.4629180792671596e-09f;  // 2π / 2^32
  const uint32_t quadrant = ((turns + 0x20000000u) >> 30) & 3u;
  const float r =
      static_cast<float>(static_cast<int32_t>(turns - (quadrant << 30))) * kTwoPiOver2Pow32;
  const float r2 = r * r;
  const float sin_r =
      ((-1.9515295891e-4f * r2 + 8.3321608736e-3f) * r2 - 1.6666654611e-1f) * r2 * r + r;
  const float cos_r =
      ((2.443315711809948e-5f * r2 - 1.388731625493765e-3f) * r2 + 4.166664568298827e-2f) * r2 *
          r2 -
      0.5f * r2 + 1.0f;
  // θ = quadrant·π/2 + r: rotate (cos r, sin r) by quarter turns.
  const bool odd = (quadrant & 1u) != 0;
  const float c = odd ? sin_r : cos_r, s = odd ? cos_r : sin_r;
  cosine = (quadrant == 1u || quadrant == 2u) ? -c : c;
  sine = (quadrant >= 2u) ? -s : s;
}

// Box–Muller with a 64-bit radius draw. u₁ ∈ (0, 1] is built from two words, (hi + (lo +
// 1)/2³²)/2³², exact down to 2⁻⁶⁴, so the radius √(−2 log u₁) reaches 9.42σ (a 32-bit u₁ cut it
// at 6.66σ, which added about T·q·Φ̄(6.66 − 1/σ) to δ); the angle needs only float precision. Built
// from the branch-free functions above so that the CPU loop vectorizes and the CUDA kernel
// (compiled without FMA contraction) draws bit-identical values.
DPF_HOST_DEVICE void box_muller(uint32_t radius_hi, uint32_t radius_lo, uint32_t angle, float& z0,
                                float& z1) {
  constexpr double kTwoPow32Inv = 2.3283064365386963e-10;  // 2^-32
  const double u1 =
      (static_cast<double>(radius_hi) + (static_cast<double>(radius_lo) + 1.0) * kTwoPow32Inv) *
      kTwoPow32Inv;
  const float radius = static_cast<float>(sqrt(-2.0 * log_positive(u1)));
  float sine, cosine;
  sincos_turns(angle, sine, cosine);
  z0 = radius * cosine;
  z1 = radius * sine;
}

// Standard normals 4·block .. 4·block+3 of stream `seed`: Box–Muller on words 0–2 and 3–5 of
// cuRAND subsequence `block` (words 6 and 7 are not used).
DPF_HOST_DEVICE void philox_normal4(uint64_t seed, uint64_t block, float out[4]) {
  uint32_t w[8];
  subsequence_words8(seed, block, w);
  box_muller(w[0], w[1], w[2], out[0], out[1]);
  box_muller(w[3], w[4], w[5], out[2], out[3]);
}

// Secure mode: normals 4*b .. 4*b+3 are (z₀ + z₁ + z₂ + z₃) / 2 for the normals z_j of raw blocks
// 4b+j. A sum of independent normals is exactly normal, and it smooths away the fine structure of
// floating-point samplers that lets an observer tell which values a sampler can and cannot
// produce (Holohan & Braghin 2021; Opacus's secure_mode sums four the same way). Costs 4x.
DPF_HOST_DEVICE void philox_secure_normal4(uint64_t seed, uint64_t block, float out[4]) {
  float sum[4] = {0, 0, 0, 0};
  for (uint64_t j = 0; j < 4; ++j) {
    float z[4];
    philox_normal4(seed, 4 * block + j, z);
    for (int k = 0; k < 4; ++k) sum[k] += z[k];
  }
  for (int k = 0; k < 4; ++k) out[k] = 0.5f * sum[k];
}

}  // namespace dpforge::kernels
