// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/steps.h"

#include <torch/torch.h>

namespace dpforge::train {

dp::PerExampleLoss cross_entropy_loss(double label_smoothing) {
  return task_loss(data::Task::kMulticlass, TrainOptions().label_smoothing(label_smoothing));
}

dp::PerExampleLoss task_loss(data::Task task, const TrainOptions& options) {
  data::LossOptions loss;
  loss.label_smoothing = options.label_smoothing();
  loss.regression = options.regression_loss();
  loss.huber_delta = options.huber_delta();
  return [task, loss](const torch::Tensor& outputs, const torch::Tensor& labels) {
    return data::per_example_loss(task, outputs, labels, loss);
  };
}

dp::BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& inputs,
                                   const torch::Tensor& labels, double loss_divisor,
                                   const dp::PerExampleLoss& loss) {
  const auto outputs = model->forward(inputs);
  const auto losses = loss(outputs, labels);
  (losses.sum() / loss_divisor).backward();
  return dp::BatchStats{losses.detach().sum().item<double>(),
                        dp::count_correct(outputs.detach(), labels), inputs.size(0)};
}

}  // namespace dpforge::train
