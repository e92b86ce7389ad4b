// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 (Salmon et al., SC'11) and Box–Muller, shared verbatim by the CPU noise generator
// and the CUDA noise kernel so that one (seed, offset) names the same Gaussian stream on both.
// Plain C++ when compiled by a host compiler; __host__ __device__ under nvcc.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
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
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Block `block` of stream `seed`: 4 independent uniform 32-bit words (counter = block, key = seed).
DPF_HOST_DEVICE Philox4 philox4x32_10(uint64_t seed, uint64_t block) {
  const Philox4 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Box–Muller on two words. The radius √(−2 log u₁) is computed in double from all 32 bits of u₁ ∈
// (0, 1], so the tails reach 6.66σ (a float u₁ would cut them at 5.8σ); the angle needs only float
// precision. CPU and GPU agree to a few ulps of float.
DPF_HOST_DEVICE void box_muller(uint32_t a, uint32_t b, float& z0, float& z1) {
  constexpr double kTwoPow32Inv = 2.3283064365386963e-10;  // 2^-32
  constexpr float kTwoPiOver2Pow32 = 1.4629180792671596e-09f;  // 2π / 2^32
  const double u1 = (static_cast<double>(a) + 1.0) * kTwoPow32Inv;
  const float radius = static_cast<float>(sqrt(-2.0 * log(u1)));
  const float angle = static_cast<float>(b) * kTwoPiOver2Pow32;
  z0 = radius * cosf(angle);
  z1 = radius * sinf(angle);
}

// Standard normals 4*block .. 4*block+3 of the stream (seed, ·).
DPF_HOST_DEVICE void philox_normal4(uint64_t seed, uint64_t block, float out[4]) {
  const Philox4 bits = philox4x32_10(seed, block);
  box_muller(bits.v[0], bits.v[1], out[0], out[1]);
  box_muller(bits.v[2], bits.v[3], out[2], out[3]);
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
