// SPDX-License-Identifier: Apache-2.0
// Gaussian noise for DP-SGD: kernel -> launcher -> entry (ggml's chain).
#include <cuda_runtime.h>

#include "kernels/kernels.h"
#include "kernels/philox.h"

namespace dpforge::kernels {
namespace {

constexpr int kThreadsPerBlock = 256;

struct SliceList {
  NoiseSlice slice[kMaxNoiseSlicesPerLaunch];
  int64_t block_start[kMaxNoiseSlicesPerLaunch + 1];  // prefix sums of the slices' Philox blocks
  int size;
};

// One thread per Philox block (4 consecutive values, so each counter is drawn exactly once) of
// the concatenated slices; the slice is found by a short scan.
__global__ void add_noise_and_scale_many_kernel(SliceList list, float noise_std, float scale,
                                                uint64_t seed, bool secure) {
  const int64_t global = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (global >= list.block_start[list.size]) return;
  int j = 0;
  while (global >= list.block_start[j + 1]) ++j;
  const NoiseSlice slice = list.slice[j];
  const int64_t block = global - list.block_start[j];
  const int64_t first = block * 4;
  float z[4];
  if (secure) {
    philox_secure_normal4(seed, slice.first_block + static_cast<uint64_t>(block), z);
  } else {
    philox_normal4(seed, slice.first_block + static_cast<uint64_t>(block), z);
  }
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    if (first + k < slice.count)
      slice.values[first + k] = (slice.values[first + k] + noise_std * z[k]) * scale;
  }
}

}  // namespace

int add_noise_and_scale_many_f32(const NoiseSlice* slices, int slice_count, double noise_std,
                                 double scale, uint64_t seed, bool secure, cudaStream_t stream) {
  for (int begin = 0; begin < slice_count; begin += kMaxNoiseSlicesPerLaunch) {
    SliceList list{};
    list.size = 0;
    list.block_start[0] = 0;
    for (int k = begin; k < slice_count && list.size < kMaxNoiseSlicesPerLaunch; ++k) {
      list.slice[list.size] = slices[k];
      list.block_start[list.size + 1] = list.block_start[list.size] + (slices[k].count + 3) / 4;
      ++list.size;
    }
    const int64_t blocks = list.block_start[list.size];
    if (blocks == 0) continue;
    const int64_t grid = (blocks + kThreadsPerBlock - 1) / kThreadsPerBlock;
    add_noise_and_scale_many_kernel<<<static_cast<unsigned>(grid), kThreadsPerBlock, 0, stream>>>(
        list, static_cast<float>(noise_std), static_cast<float>(scale), seed, secure);
    const cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) return static_cast<int>(status);
  }
  return 0;
}

const char* error_string(int status) {
  return cudaGetErrorString(static_cast<cudaError_t>(status));
}

}  // namespace dpforge::kernels
