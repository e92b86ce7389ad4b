// SPDX-License-Identifier: Apache-2.0
// The benchmark's tables beside the training step: accountant operations and noise generation.
#pragma once
#include <torch/types.h>

namespace dpforge::bench {

/// Wall time of the accountant operations with targets (median over repeats); 0 when all are met.
int bench_accountants(int repeats);

/// Noise generation, plain and secure, against a copy of the same buffer (memory bandwidth).
int bench_noise(int repeats, const torch::Device& device);

}  // namespace dpforge::bench
