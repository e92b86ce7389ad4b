// SPDX-License-Identifier: Apache-2.0
// From the engine's options (train/options.h) to the run's DP plan (dp/plan.h): validated and
// calibrated once, before training.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dpforge/dp/plan.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/train/options.h"

namespace dpforge::train {

/// What a plan needs to know beyond the options.
struct PlanInputs {
  /// The real number of private examples: the sampler's population, never released.
  int64_t dataset_size = 0;
  /// The N the mechanism is planned with (public or a DP count: run::plan_dataset_size).
  int64_t planning_size = 0;
  /// The trainable parameters, noised each step.
  int64_t parameters = 0;
  /// The white-box canaries' coordinates, noised each step beside them (DpPlan::canaries).
  int64_t canaries = 0;
  /// Noise multipliers of the Gaussian releases already computed from the training set
  /// (BeforeTraining::gaussian_releases), composed before the first step (DpPlan::preprocessing).
  std::vector<double> gaussian_releases;
  /// The δ they spend outside that composition (BeforeTraining::release_delta).
  double release_delta = 0;
};

/// The DP plan of training by `train` under `privacy`: q = batch_size / planning_size, steps =
/// ceil(epochs / q), σ given or calibrated to privacy.target_epsilon, and the number of steps the
/// budget allows. InputError when the batch exceeds the planning size or the target is unreachable.
dp::DpPlan make_dp_plan(const TrainOptions& train, const PrivacyOptions& privacy,
                        const PlanInputs& inputs);

/// ε at the plan's δ (the accountant's share of it) after the plan's releases and `steps` of its
/// (σ, q): what the run has spent once it has taken `steps` steps.
double plan_epsilon(const dp::DpPlan& plan, int64_t steps);

/// `history` (an accountant's) without its leading `releases`, which compose may have merged with
/// equal neighbours; std::logic_error when it does not begin with them.
std::vector<privacy::SgmSteps> after_releases(std::vector<privacy::SgmSteps> history,
                                              const std::vector<privacy::SgmSteps>& releases);

/// The DP-SGD steps a checkpoint's accountant (`saved`) composed after the plan's releases. An
/// InputError, naming what differs, when it holds anything else: another adjacency, releases or
/// (σ, q) than the plan's: a checkpoint of another mechanism is never continued.
int64_t plan_steps_composed(const dp::DpPlan& plan, const privacy::Accountant& saved);

/// The plan's accountant kind with its releases already composed: the one way a run's accountant
/// is made (the DP-SGD step then tells it each step, dp::AccountantHook).
privacy::AccountantFactory plan_accountants(const dp::DpPlan& plan);

/// What a run's canaries test: its DP-SGD steps alone, as its accountant was told them, under
/// add/remove adjacency (a canary is in the training set or not, and sees no release made before
/// training, data/dp_stats.h). Built from what the accountant composed, never from the plan: the
/// audit compares the steps the claim rests on with the mechanism the canaries observe, so an
/// accountant told another σ or q than the step ran is flagged.
struct StepsClaim {
  /// The run's accountant kind with the run's accountant's history after the plan's releases.
  std::unique_ptr<privacy::Accountant> accountant;
  /// The ε tested: the run's own claim when it is add/remove with no release before training,
  /// else the steps' ε at the plan's δ (smaller, so a stricter test of the same mechanism).
  double epsilon = 0;
  bool is_run_claim = false;
};

/// The claim the DP-SGD steps `told` (the run's accountant) composed after `plan`'s releases make
/// to canaries; `run_epsilon` is what the run reports. std::logic_error when its history does not
/// begin with the plan's releases.
StepsClaim steps_claim(const dp::DpPlan& plan, const privacy::Accountant& told, double run_epsilon);

/// A legal setting under which a run's numbers mean little: which check, a short form for tables
/// ("q 0.68 > 0.1") and the message that says why and what to change.
struct PlanWarning {
  std::string check;  // sample_rate | steps | delta | batch_share
  std::string brief;
  std::string message;
};

/// Thresholds of plan_warnings. Above q = 0.1 subsampling amplifies privacy little; DP-SGD and
/// its accounting are built for many small noisy steps, and under ~100 the model barely moves.
inline constexpr double kHighSampleRate = 0.1;
inline constexpr int64_t kFewSteps = 100;
inline constexpr double kLargeBatchShare = 0.25;

/// What to warn about before training by `train` on `dataset_size` examples, private or not: fewer
/// than kFewSteps planned steps, an (expected) batch above kLargeBatchShare of the data; under DP
/// also q > kHighSampleRate and δ ≥ 1/N. Cheap: nothing is calibrated.
std::vector<PlanWarning> plan_warnings(const TrainOptions& train, const PrivacyOptions& privacy,
                                       int64_t dataset_size);

/// The line a run prints about its mechanism: "DP-SGD: q = …, sigma = …, C = …, T steps, delta =
/// …".
std::string describe(const dp::DpPlan& plan);

}  // namespace dpforge::train
