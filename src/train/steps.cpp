// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/steps.h"

#include <torch/torch.h>

namespace dpforge::train {

dp::PerExampleLoss cross_entropy_loss(double label_smoothing) {
  return [label_smoothing](const torch::Tensor& logits, const torch::Tensor& labels) {
    namespace F = torch::nn::functional;
    return F::cross_entropy(
        logits, labels,
        F::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(label_smoothing));
  };
}

dp::BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& images,
                                   const torch::Tensor& labels, double loss_divisor,
                                   double label_smoothing) {
  const auto logits = model->forward(images);
  const auto losses = cross_entropy_loss(label_smoothing)(logits, labels);
  (losses.sum() / loss_divisor).backward();
  return dp::BatchStats{losses.detach().sum().item<double>(),
                        dp::count_correct(logits.detach(), labels), images.size(0)};
}

}  // namespace dpforge::train
