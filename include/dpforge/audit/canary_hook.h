// SPDX-License-Identifier: Apache-2.0
// The white-box canaries as an observer of DP-SGD steps (dp::StepHook): member canaries are
// Poisson-sampled into every step, their clipped Dirac gradients join the clipped sum, their
// coordinates are noised in the same launch as the model's parameters, and the auditor scores
// what comes out.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/plan.h"

namespace dpforge::audit {

class CanaryHook final : public dp::StepHook {
 public:
  /// `executed` is the plan the step runs: its rate samples the member canaries (from their own
  /// stream, `sampler_seed`, so the real examples' batches do not depend on the audit) and its
  /// clipping clips them. `claimed` is what the auditor tests the privatized updates against. They
  /// are the same plan except in an auditor-validation run (faults.h).
  CanaryHook(DiracCanaries& canaries, const dp::DpPlan& executed, const dp::DpPlan& claimed,
             uint64_t sampler_seed);

  std::vector<torch::Tensor> privatized_tensors() override { return {canaries_.coordinates()}; }
  void before_noise(dp::ClippedSum& sum) override;
  void after_noise(std::span<const torch::Tensor> privatized) override;

  /// The member canaries' sampler (its position is saved by checkpoints).
  data::PoissonSampler& sampler() { return sampler_; }
  const data::PoissonSampler& sampler() const { return sampler_; }

 private:
  DiracCanaries& canaries_;
  dp::ClipOptions clip_;
  dp::DpPlan claimed_;
  data::PoissonSampler sampler_;
};

}  // namespace dpforge::audit
