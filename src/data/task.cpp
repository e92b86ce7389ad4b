// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/task.h"

#include <torch/torch.h>

#include <stdexcept>

namespace dpforge::data {

int64_t model_outputs(Task task, int64_t num_classes) {
  return task == Task::kMulticlass ? num_classes : 1;
}

torch::Tensor per_example_loss(Task task, const torch::Tensor& outputs, const torch::Tensor& labels,
                               const LossOptions& options) {
  namespace F = torch::nn::functional;
  switch (task) {
    case Task::kMulticlass:
      return F::cross_entropy(outputs, labels,
                              F::CrossEntropyFuncOptions()
                                  .reduction(torch::kNone)
                                  .label_smoothing(options.label_smoothing));
    case Task::kBinary:
      return F::binary_cross_entropy_with_logits(
          outputs.squeeze(1), labels.to(outputs.scalar_type()),
          F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
    case Task::kRegression: {
      const auto error = outputs.squeeze(1) - labels.to(outputs.scalar_type());
      if (options.regression == RegressionLoss::kMse) return error.square();
      const auto absolute = error.abs();
      const double d = options.huber_delta;
      return torch::where(absolute <= d, 0.5 * error.square(), d * (absolute - 0.5 * d));
    }
  }
  throw std::invalid_argument("per_example_loss: unknown task");
}

int64_t count_correct(Task task, const torch::Tensor& outputs, const torch::Tensor& labels) {
  switch (task) {
    case Task::kMulticlass:
      return outputs.argmax(1).eq(labels).sum().item<int64_t>();
    case Task::kBinary:
      return outputs.squeeze(1).gt(0).to(torch::kLong).eq(labels).sum().item<int64_t>();
    case Task::kRegression:
      return 0;
  }
  return 0;
}

torch::Tensor class_log_probabilities(Task task, const torch::Tensor& outputs) {
  if (task == Task::kMulticlass) return torch::log_softmax(outputs, 1);
  if (task == Task::kBinary) {
    const auto z = outputs.squeeze(1);
    return torch::stack({torch::log_sigmoid(-z), torch::log_sigmoid(z)}, 1);
  }
  throw std::invalid_argument("class_log_probabilities: a regression task has no classes");
}

torch::Dtype label_dtype(Task task) {
  return task == Task::kRegression ? torch::kFloat32 : torch::kLong;
}

}  // namespace dpforge::data
