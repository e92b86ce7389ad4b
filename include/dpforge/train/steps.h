// SPDX-License-Identifier: Apache-2.0
// The loss and the non-private batch step, shared by the trainers and the benchmark so that what is
// timed is exactly what trains (the DP step's stages are in dp/dp_sgd.h).
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include "dpforge/dp/dp_sgd.h"

namespace dpforge::train {

/// Per-example cross-entropy with `label_smoothing` (train.label_smoothing).
dp::PerExampleLoss cross_entropy_loss(double label_smoothing = 0);

/// Forward + backward of Σᵢ Lᵢ / `loss_divisor`; gradients accumulate in the parameters' .grad.
/// Lᵢ is the cross-entropy with `label_smoothing`.
dp::BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& images,
                                   const torch::Tensor& labels, double loss_divisor,
                                   double label_smoothing = 0);

}  // namespace dpforge::train
