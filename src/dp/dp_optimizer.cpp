// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/dp_optimizer.h"

#include <utility>

#include <torch/torch.h>

namespace dpforge::dp {

DpOptimizer::DpOptimizer(std::vector<torch::Tensor> parameters,
                         std::unique_ptr<torch::optim::Optimizer> inner,
                         DpOptimizerOptions options, NoiseGenerator noise,
                         privacy::Accountant& accountant)
    : parameters_(std::move(parameters)),
      inner_(std::move(inner)),
      options_(std::move(options)),
      noise_(noise),
      accountant_(accountant) {
  TORCH_CHECK(options_.expected_batch_size() > 0, "expected batch size must be > 0");
  TORCH_CHECK(options_.noise_multiplier() >= 0, "noise multiplier must be >= 0");
  TORCH_CHECK(options_.clip().max_grad_norm() > 0, "max_grad_norm must be > 0");
}

void DpOptimizer::accumulate(std::vector<PerSampleLayer> layers) {
  torch::NoGradGuard no_grad;
  if (layers.empty()) return;
  examples_seen_ += layers.front().batch_size();
  std::vector<std::vector<torch::Tensor>> parameters;
  parameters.reserve(layers.size());
  for (const auto& layer : layers) parameters.push_back(layer.parameters());
  const auto clipped = clip_and_sum(std::move(layers), options_.clip());
  examples_dropped_ += clipped.dropped;
  for (size_t l = 0; l < parameters.size(); ++l) {
    for (size_t k = 0; k < clipped.sums[l].size(); ++k) {
      auto& sum = clipped_sum_[parameters[l][k].unsafeGetTensorImpl()];
      // clip_and_sum returns fresh tensors: the first one becomes the running sum, no copy.
      const auto contribution = clipped.sums[l][k].to(torch::kFloat32);
      sum = sum.defined() ? sum.add_(contribution) : contribution;
    }
  }
}

void DpOptimizer::attach_canaries(audit::DiracCanaries& canaries) {
  canaries_ = &canaries;
  parameters_.push_back(canaries.coordinates());
}

void DpOptimizer::accumulate_canaries(const std::vector<int64_t>& canary_ids) {
  TORCH_CHECK(canaries_ != nullptr, "accumulate_canaries without attached canaries");
  if (canary_ids.empty()) return;
  // A canary's gradient is a Dirac of norm pre_clip_norm: clipped like any example's whole
  // gradient (in per-layer mode, to the total C, the sensitivity bound of the sum).
  const double clipped = clip_factor(canaries_->pre_clip_norm(), options_.clip()) * canaries_->pre_clip_norm();
  auto& sum = clipped_sum_[canaries_->coordinates().unsafeGetTensorImpl()];
  if (!sum.defined()) sum = torch::zeros_like(canaries_->coordinates());
  auto* data = sum.data_ptr<float>();
  for (int64_t id : canary_ids) data[id] += static_cast<float>(clipped);
  examples_seen_ += static_cast<int64_t>(canary_ids.size());
}

// Note [noise after sum] — the order that makes the step private, in one place:
//   1. Σᵢ cᵢ gᵢ  — clipped per-example gradients summed over the whole logical batch (accumulate);
//      nothing may rescale or reshape this sum before the noise (its sensitivity is exactly C);
//   2. + N(0, σ²C²) per coordinate, once per logical step, also for an empty batch (invariant 2);
//   3. ÷ q·N, the expected batch size — never the realized one, which would leak it (invariant 3);
//   4. the inner optimizer's step on that gradient (post-processing: free of privacy cost);
//   5. the accountant records (σ, q) for the step just taken (invariant 6).
void DpOptimizer::step() {
  torch::NoGradGuard no_grad;
  const double noise_std =
      options_.fault_noise_scale() * options_.noise_multiplier() * options_.clip().max_grad_norm();
  const double scale = 1.0 / options_.expected_batch_size();
  std::vector<torch::Tensor> gradients(parameters_.size());
  std::vector<uint64_t> first_blocks(parameters_.size());
  for (size_t k = 0; k < parameters_.size(); ++k) {
    const auto& parameter = parameters_[k];
    auto it = clipped_sum_.find(parameter.unsafeGetTensorImpl());
    gradients[k] = it != clipped_sum_.end()
                       ? it->second.contiguous()
                       : torch::zeros(parameter.sizes(), parameter.options().dtype(torch::kFloat32));
    first_blocks[k] = noise_.reserve(gradients[k].numel());
  }
  add_noise_and_scale_many_(gradients, first_blocks, noise_std, scale, noise_.seed(), noise_.secure());
  for (size_t k = 0; k < parameters_.size(); ++k) {
    auto& parameter = parameters_[k];
    if (canaries_ != nullptr && parameter.is_same(canaries_->coordinates())) {
      // The auditor sees exactly what an adversary with the privatized updates would see.
      canaries_->observe(gradients[k], options_.noise_multiplier(), options_.sample_rate(),
                         options_.clip().max_grad_norm(), options_.expected_batch_size());
      continue;  // its coordinates are not trained
    }
    parameter.mutable_grad() = gradients[k].to(parameter.dtype());
  }
  clipped_sum_.clear();
  inner_->step();
  // The noised gradient has been used; holding it until the next step would keep one more copy
  // of the model alive through the next forward and backward.
  for (auto& parameter : parameters_) parameter.mutable_grad().reset();
  accountant_.compose(options_.noise_multiplier(), options_.sample_rate());
}

}  // namespace dpforge::dp
