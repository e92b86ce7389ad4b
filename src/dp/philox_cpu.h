// SPDX-License-Identifier: Apache-2.0
// The CPU twin of kernels::add_noise_and_scale_many_f32 (for one slice) on raw pointers, kept out
// of the torch-heavy noise.cpp so that it can be compiled for several instruction sets
// (see philox_cpu.cpp).
#pragma once
#include <cstdint>

namespace dpforge::dp {

// values[i] = (values[i] + noise_std · z_i) · scale for i < count, z_i normal (i % 4) of Philox
// block first_block + i / 4 of stream `seed` (plain or secure, kernels/philox.h).
void add_noise_and_scale_f32_cpu(float* values, int64_t count, float noise_std, float scale,
                                 uint64_t seed, uint64_t first_block, bool secure);

}  // namespace dpforge::dp
