// SPDX-License-Identifier: Apache-2.0
// Noise generation is the one DP-SGD cost that grows with the parameter count rather than the
// batch, so it decides the DP/non-private ratio of wide models at small batches. Each chunk is
// drawn in three passes over structure-of-arrays buffers (Philox words, Box–Muller, apply) that
// the compiler vectorizes; target_clones builds AVX-512, AVX2 and baseline versions and picks one
// at load time. Only IEEE-exact operations are used and FMA contraction is off for this file
// (CMake), so every version, and the CUDA kernel, draws bit-identical values.
#include "src/dp/philox_cpu.h"

#include <algorithm>

#include "kernels/philox.h"

namespace dpforge::dp {
namespace {

constexpr int64_t kChunkBlocks = 128;

struct Chunk {
  alignas(64) uint32_t w[6][kChunkBlocks];  // the words Box–Muller reads, per block
  alignas(64) float z0[kChunkBlocks], z1[kChunkBlocks], z2[kChunkBlocks], z3[kChunkBlocks];
};

// Normals of the raw blocks first, first + stride, … written to (or, for the secure stream's
// four-block sums, added into) the z arrays.
template <bool kAccumulate>
inline void draw_normals(Chunk& c, int64_t blocks, uint64_t seed, uint64_t first, uint64_t stride) {
  for (int64_t i = 0; i < blocks; ++i) {
    uint32_t words[8];
    kernels::subsequence_words8(seed, first + stride * static_cast<uint64_t>(i), words);
    for (int k = 0; k < 6; ++k) c.w[k][i] = words[k];
  }
  for (int64_t i = 0; i < blocks; ++i) {
    float a, b, d, e;
    kernels::box_muller(c.w[0][i], c.w[1][i], c.w[2][i], a, b);
    kernels::box_muller(c.w[3][i], c.w[4][i], c.w[5][i], d, e);
    if constexpr (kAccumulate) {
      c.z0[i] += a;
      c.z1[i] += b;
      c.z2[i] += d;
      c.z3[i] += e;
    } else {
      c.z0[i] = a;
      c.z1[i] = b;
      c.z2[i] = d;
      c.z3[i] = e;
    }
  }
}

}  // namespace

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
void add_noise_and_scale_f32_cpu(float* values, int64_t count, float noise_std, float scale, uint64_t seed,
                                 uint64_t first_block, bool secure) {
  Chunk c;
  const int64_t total_blocks = (count + 3) / 4;
  for (int64_t start = 0; start < total_blocks; start += kChunkBlocks) {
    const int64_t blocks = std::min(kChunkBlocks, total_blocks - start);
    const uint64_t block = first_block + static_cast<uint64_t>(start);
    if (secure) {  // same order of additions as kernels::philox_secure_normal4
      draw_normals<false>(c, blocks, seed, 4 * block, 4);
      for (uint64_t j = 1; j < 4; ++j) draw_normals<true>(c, blocks, seed, 4 * block + j, 4);
      for (int64_t i = 0; i < blocks; ++i) {
        c.z0[i] *= 0.5f;
        c.z1[i] *= 0.5f;
        c.z2[i] *= 0.5f;
        c.z3[i] *= 0.5f;
      }
    } else {
      draw_normals<false>(c, blocks, seed, block, 1);
    }
    float* out = values + 4 * start;
    const int64_t full = std::min(blocks, (count - 4 * start) / 4);
    for (int64_t i = 0; i < full; ++i) {
      out[4 * i] = (out[4 * i] + noise_std * c.z0[i]) * scale;
      out[4 * i + 1] = (out[4 * i + 1] + noise_std * c.z1[i]) * scale;
      out[4 * i + 2] = (out[4 * i + 2] + noise_std * c.z2[i]) * scale;
      out[4 * i + 3] = (out[4 * i + 3] + noise_std * c.z3[i]) * scale;
    }
    const float* tail[4] = {c.z0, c.z1, c.z2, c.z3};
    for (int64_t j = 4 * (start + full); j < count && j < 4 * (start + blocks); ++j) {
      values[j] = (values[j] + noise_std * tail[j % 4][full]) * scale;
    }
  }
}

}  // namespace dpforge::dp
