// SPDX-License-Identifier: Apache-2.0
// One physical batch through a model, private or not: shared by the trainers and the benchmark so
// that what is timed is exactly what trains.
#pragma once
#include <cstdint>

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include "dpforge/dp/dp_optimizer.h"

namespace dpforge::train {

struct BatchStats {
  double loss_sum = 0;  // Σ of per-example cross-entropy
  int64_t correct = 0;
};

/// Forward + backward of Σᵢ Lᵢ / `loss_divisor`; gradients accumulate in the parameters' .grad.
/// Lᵢ is the cross-entropy with `label_smoothing` (train.label_smoothing).
BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& images,
                               const torch::Tensor& labels, double loss_divisor,
                               double label_smoothing = 0);

/// Forward on the DP tape, one backward to the layer outputs, then the clipped per-example
/// gradients are added to `optimizer`'s running sum (no parameter .grad is touched).
BatchStats accumulate_private(torch::nn::Sequential& model, dp::DpOptimizer& optimizer,
                              const torch::Tensor& images, const torch::Tensor& labels,
                              double label_smoothing = 0);

}  // namespace dpforge::train
