// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/steps.h"

#include <utility>

#include <torch/torch.h>

namespace dpforge::train {
namespace {

namespace F = torch::nn::functional;

torch::Tensor per_example_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                        double label_smoothing) {
  return F::cross_entropy(
      logits, labels,
      F::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(label_smoothing));
}

BatchStats stats_of(const torch::Tensor& losses, const torch::Tensor& logits,
                    const torch::Tensor& labels) {
  return BatchStats{losses.sum().item<double>(), logits.argmax(1).eq(labels).sum().item<int64_t>()};
}

}  // namespace

BatchStats backward_nonprivate(torch::nn::Sequential& model, const torch::Tensor& images,
                               const torch::Tensor& labels, double loss_divisor,
                               double label_smoothing) {
  const auto logits = model->forward(images);
  const auto losses = per_example_cross_entropy(logits, labels, label_smoothing);
  (losses.sum() / loss_divisor).backward();
  return stats_of(losses.detach(), logits.detach(), labels);
}

BatchStats accumulate_private(torch::nn::Sequential& model, dp::DpOptimizer& optimizer,
                              const torch::Tensor& images, const torch::Tensor& labels,
                              double label_smoothing) {
  dp::GradTape tape;
  torch::Tensor logits;
  {
    dp::TapeGuard guard(tape);
    logits = model->forward(images);
  }
  const auto losses = per_example_cross_entropy(logits, labels, label_smoothing);
  // One backward to the layer outputs only: parameter gradients come from the tape (BK).
  auto layers = dp::per_sample_layers(tape, losses.sum());
  optimizer.accumulate(std::move(layers));
  return stats_of(losses.detach(), logits.detach(), labels);
}

}  // namespace dpforge::train
