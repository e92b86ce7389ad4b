// SPDX-License-Identifier: Apache-2.0
// The white-box canaries as examples of the training population (a dp::StepHook): each member
// canary is one more example the step's Poisson sampler draws, its gradient a Dirac of norm
// pre_clip_norm on one auditor-owned coordinate — a one-hot lookup into a table of those
// coordinates, so it is normed, clipped and summed by the same clip_and_sum as any embedding —,
// the coordinates are noised in the same launch as the model's parameters on the model's device,
// and the auditor scores what comes out. A bug in sampling, clipping, summing, noise or the
// divisor therefore reaches the canaries exactly as it reaches the real examples.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/plan.h"
#include "dpforge/dp/tape.h"

namespace dpforge::audit {

class CanaryHook final : public dp::StepHook {
 public:
  /// `claimed` is what the auditor tests the privatized updates against (the run's honest plan,
  /// also where a test plants a fault in the executed one, tests/audit/planted_faults.h); the
  /// coordinates live on `device`.
  CanaryHook(DiracCanaries& canaries, const dp::DpPlan& claimed, const torch::Device& device);

  std::vector<torch::Tensor> privatized_tensors() override { return {coordinates_}; }
  int64_t extra_examples() const override {
    return static_cast<int64_t>(canaries_.members().size());
  }
  std::vector<dp::PerSampleLayer> extra_gradients(std::span<const int64_t> sampled) override;
  void after_noise(std::span<const torch::Tensor> privatized) override;

 private:
  DiracCanaries& canaries_;
  dp::DpPlan claimed_;
  torch::Tensor coordinates_;  // m x 1: the table the canaries look up (never trained)
  dp::LayerRecord record_;     // the current step's lookups (a PerSampleLayer refers to it)
};

}  // namespace dpforge::audit
