// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace dpforge::train {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                        std::vector<torch::Tensor> parameters) {
  switch (options.optimizer()) {
    case OptimizerKind::kSgd:
      return std::make_unique<torch::optim::SGD>(std::move(parameters),
                                                 torch::optim::SGDOptions(options.lr())
                                                     .momentum(options.momentum())
                                                     .weight_decay(options.weight_decay()));
    case OptimizerKind::kAdam:
      return std::make_unique<torch::optim::Adam>(
          std::move(parameters),
          torch::optim::AdamOptions(options.lr()).weight_decay(options.weight_decay()));
    case OptimizerKind::kAdamW:
      return std::make_unique<torch::optim::AdamW>(
          std::move(parameters),
          torch::optim::AdamWOptions(options.lr()).weight_decay(options.weight_decay()));
  }
  throw std::invalid_argument("make_optimizer: unknown optimizer");
}

double scheduled_lr(const TrainOptions& options, int64_t step, int64_t total_steps) {
  if (options.lr_schedule() == LrSchedule::kConstant || total_steps <= 1) return options.lr();
  const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
  return options.lr() * 0.5 * (1.0 + std::cos(M_PI * progress));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace dpforge::train
