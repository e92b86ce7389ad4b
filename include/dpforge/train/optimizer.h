// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "dpforge/train/options.h"

namespace dpforge::train {

/// The inner optimizer a recipe names (sgd with momentum, adam, adamw) over `parameters`.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                        std::vector<torch::Tensor> parameters);

/// Learning rate for step `step` (0-based) of `total_steps` under train.lr_schedule.
double scheduled_lr(const TrainOptions& options, int64_t step, int64_t total_steps);

/// Sets every parameter group's learning rate.
void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace dpforge::train
