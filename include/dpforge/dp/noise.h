// SPDX-License-Identifier: Apache-2.0
// Gaussian noise for DP-SGD from a counter-based generator. A stream is named by (seed, block):
// block b holds standard normals 4b … 4b+3 (Philox4x32-10 + Box–Muller, kernels/philox.h), so the
// CPU and CUDA implementations draw identical values and a (seed, offset) pair reproduces a run.
// A secure stream's block b is the halved sum of four plain blocks
// (kernels::philox_secure_normal4); its key should come from secure_random_seed() (core/random.h).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace dpforge::dp {

/// Hands out disjoint ranges of one Philox stream; its whole state is (seed, next_block).
class NoiseGenerator {
 public:
  explicit NoiseGenerator(uint64_t seed, uint64_t next_block = 0, bool secure = false)
      : seed_(seed), next_block_(next_block), secure_(secure) {}
  /// Reserves the blocks for `count` normals and returns the first one.
  uint64_t reserve(int64_t count) {
    const uint64_t first = next_block_;
    next_block_ += static_cast<uint64_t>((count + 3) / 4);
    return first;
  }
  uint64_t seed() const { return seed_; }
  uint64_t next_block() const { return next_block_; }
  bool secure() const { return secure_; }

 private:
  uint64_t seed_;
  uint64_t next_block_;
  bool secure_;
};

/// values ← (values + noise_std · z) · scale, in place, z the normals of (seed, first_block…).
/// `values` must be contiguous float32 (noise is always added in fp32). Dispatches on device:
/// CPU → add_noise_and_scale_cpu, CUDA → kernels/ (when built with them).
void add_noise_and_scale_(torch::Tensor& values, double noise_std, double scale, uint64_t seed,
                          uint64_t first_block, bool secure = false);

/// The same for many tensors at once, tensor k drawing from blocks first_blocks[k], …: CUDA
/// tensors go to one multi-tensor kernel launch (per 48 tensors), CPU ones to
/// add_noise_and_scale_cpu in turn. The values are those of separate calls.
void add_noise_and_scale_many_(const std::vector<torch::Tensor>& values,
                               const std::vector<uint64_t>& first_blocks, double noise_std,
                               double scale, uint64_t seed, bool secure = false);

/// The CPU implementation: the reference the CUDA kernel is tested against.
void add_noise_and_scale_cpu(torch::Tensor& values, double noise_std, double scale, uint64_t seed,
                             uint64_t first_block, bool secure = false);

/// `count` standard normals of (seed, first_block…) as a float32 tensor (for tests and audits).
torch::Tensor philox_normals(int64_t count, uint64_t seed, uint64_t first_block,
                             bool secure = false);

}  // namespace dpforge::dp
