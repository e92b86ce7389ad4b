// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/canary_hook.h"

#include <torch/torch.h>

namespace dpforge::audit {

CanaryHook::CanaryHook(DiracCanaries& canaries, const dp::DpPlan& executed,
                       const dp::DpPlan& claimed, uint64_t sampler_seed)
    : canaries_(canaries),
      clip_(executed.clip),
      claimed_(claimed),
      sampler_(static_cast<int64_t>(canaries.members().size()), executed.sample_rate,
               sampler_seed) {}

void CanaryHook::before_noise(dp::ClippedSum& sum) {
  const auto sampled = sampler_.next();
  if (sampled.empty()) return;
  // A canary's gradient is a Dirac of norm pre_clip_norm: clipped like any example's whole
  // gradient (in per-layer mode, to the total C, the sensitivity bound of the sum).
  const double clipped =
      dp::clip_factor(canaries_.pre_clip_norm(), clip_) * canaries_.pre_clip_norm();
  auto* data = sum.of(canaries_.coordinates()).data_ptr<float>();
  for (int64_t member : sampled)
    data[canaries_.members()[static_cast<size_t>(member)]] += static_cast<float>(clipped);
}

void CanaryHook::after_noise(std::span<const torch::Tensor> privatized) {
  // The auditor sees exactly what an adversary with the privatized updates would see.
  canaries_.observe(privatized.front(), claimed_.noise_multiplier, claimed_.sample_rate,
                    claimed_.clip.max_grad_norm(), claimed_.expected_batch_size);
}

}  // namespace dpforge::audit
