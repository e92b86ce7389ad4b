// SPDX-License-Identifier: Apache-2.0
// The loss and the non-private batch step, shared by the trainers and the benchmark so that what is
// timed is exactly what trains (the DP step's stages are in dp/dp_sgd.h).
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include "dpforge/data/task.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/train/options.h"

namespace dpforge::train {

/// Per-example cross-entropy with `label_smoothing` (train.label_smoothing).
dp::PerExampleLoss cross_entropy_loss(double label_smoothing = 0);

/// The loss a recipe trains `task` with (train.label_smoothing, train.loss, train.huber_delta).
dp::PerExampleLoss task_loss(data::Task task, const TrainOptions& options);

/// Forward + backward of Σᵢ Lᵢ / `loss_divisor`; gradients accumulate in the parameters' .grad.
dp::BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& inputs,
                                   const torch::Tensor& labels, double loss_divisor,
                                   const dp::PerExampleLoss& loss);

}  // namespace dpforge::train
