// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/canary_hook.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace dpforge::audit {

CanaryHook::CanaryHook(DiracCanaries& canaries, const dp::DpPlan& claimed,
                       const torch::Device& device)
    : canaries_(canaries),
      claimed_(claimed),
      coordinates_(torch::zeros({canaries.count(), 1},
                                torch::TensorOptions(torch::kFloat32).device(device))) {
  // Their noise is within the plan's support δ only if the plan counted them.
  if (claimed.canaries != canaries.count()) {
    throw std::logic_error("CanaryHook: the plan noises " + std::to_string(claimed.canaries) +
                           " canary coordinates, the hook carries " +
                           std::to_string(canaries.count()));
  }
}

std::vector<dp::PerSampleLayer> CanaryHook::extra_gradients(std::span<const int64_t> sampled) {
  std::vector<int64_t> ids;
  ids.reserve(sampled.size());
  for (int64_t member : sampled) ids.push_back(canaries_.members()[static_cast<size_t>(member)]);
  const auto options = coordinates_.options();
  const int64_t batch = static_cast<int64_t>(ids.size());
  record_ = dp::LayerRecord{
      .kind = dp::LayerKind::kEmbedding,
      .input = torch::tensor(ids, torch::kLong).to(options.device()).view({batch, 1}),
      .weight = coordinates_,
      .padding_idx = -1,
      .output_sizes = {batch, 1, 1}};
  // ∂L/∂(looked-up row) = pre_clip_norm: each canary's gradient is that Dirac before clipping.
  const auto output_grad = torch::full({batch, 1, 1}, canaries_.pre_clip_norm(), options);
  std::vector<dp::PerSampleLayer> layers;
  layers.emplace_back(record_, output_grad);
  return layers;
}

void CanaryHook::after_noise(std::span<const torch::Tensor> privatized) {
  // The auditor sees exactly what an adversary with the privatized updates would see.
  canaries_.observe(privatized.front().flatten(), claimed_.noise_multiplier, claimed_.sample_rate,
                    claimed_.clip.max_grad_norm(), claimed_.expected_batch_size);
}

}  // namespace dpforge::audit
