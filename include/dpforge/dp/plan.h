// SPDX-License-Identifier: Apache-2.0
// The DP plan: one value that configures the mechanism and tells the accountant, so the two cannot
// disagree (jax_privacy's DPExecutionPlan). Built once per run, after validation and calibration,
// by train::make_dp_plan; read-only from then on. Performance settings (physical batch size,
// device, threads) are not part of it: they cannot change what is released.
//
// Example:
//   const dp::DpPlan plan =
//       train::make_dp_plan(train, privacy, {.dataset_size = n, .planning_size = n});
//   data::PoissonSampler sampler(plan.dataset_size, plan.sample_rate, seed);  // the mechanism …
//   auto accountant = train::plan_accountants(plan)();                          // … its claim,
//   accountant->compose(plan.dp_event());  // told each step by the step (dp::AccountantHook)
#pragma once
#include <cstdint>
#include <vector>

#include "dpforge/dp/clipping.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::dp {

struct DpPlan {
  /// N: the private training set's size (the population the sampler draws from). Never released:
  /// it differs between neighbouring datasets.
  int64_t dataset_size = 0;
  /// The N that q = expected batch / N, the steps and σ are planned with: declared public or a DP
  /// count (run::plan_dataset_size), so nothing released depends on dataset_size.
  int64_t planning_size = 0;
  /// q: each example joins each logical step independently with this probability (invariant 1).
  double sample_rate = 0;
  /// q·N: the noised sum is divided by this, never by the realized batch size (invariant 3).
  double expected_batch_size = 1;
  /// C and the clipping mode: every example's contribution has norm ≤ C (invariant 5).
  ClipOptions clip;
  /// σ, told to the accountant with q for every step.
  double noise_multiplier = 0;
  /// σ·C: the std of the Gaussian added once per step to the clipped sum (invariant 2).
  double noise_std = 0;

  /// The accountant that reports ε, calibrates σ and keeps the budget; δ of (ε, δ).
  privacy::AccountantKind accountant = privacy::AccountantKind::kPld;
  /// The neighbouring relation (ε, δ) holds under; replace-one moves a step's sum by up to 2C.
  privacy::Adjacency adjacency = privacy::Adjacency::kAddRemove;
  double delta = 1e-5;
  /// The budget (0: none) and whether σ was calibrated to it (else given by the recipe).
  double target_epsilon = 0;
  bool noise_calibrated = false;
  /// Steps the recipe asks for (ceil(epochs / q)) and the most the budget allows (invariant 6).
  int64_t planned_steps = 0;
  int64_t allowed_steps = 0;

  /// Gaussian releases computed from the training data before training (DP statistics,
  /// data/dp_stats.h), each one step of sampling rate 1: the accountant composes them first, and
  /// the calibration, the budget and ε all include them.
  std::vector<privacy::SgmSteps> preprocessing;
  /// δ the releases spend outside their Gaussian composition (the DP vocabularies' thresholds,
  /// data/dp_vocabulary.h). The run is (ε, delta)-DP with ε the accountant's at accountant_delta().
  double preprocessing_delta = 0;
  /// δ the noise sampler's bounded support adds over the planned steps (privacy/bounded_noise.h),
  /// taken from delta the same way; InputError (train::make_dp_plan) above a tenth of δ.
  double support_delta = 0;
  /// Auditor-owned coordinates noised with each step, one per white-box canary
  /// (audit/canary_hook.h): they release nothing about the data, but their noise is drawn from
  /// the same bounded sampler, so support_delta counts them with the trainable parameters.
  int64_t canaries = 0;

  /// The δ every accountant of the plan is asked at: what the thresholds and the support left.
  double accountant_delta() const { return delta - preprocessing_delta - support_delta; }

  /// What one step is, to the accountant: `count` steps of the Poisson-subsampled Gaussian (σ, q).
  privacy::SgmSteps dp_event(int64_t count = 1) const {
    return {noise_multiplier, sample_rate, count};
  }
};

}  // namespace dpforge::dp
