// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/dp_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "dpforge/core/error.h"
#include "dpforge/privacy/bounded_noise.h"
#include "dpforge/privacy/calibration.h"

namespace dpforge::train {
namespace {

// The ledger's allowance: how many steps of (σ, q) fit in the budget (all of them without one).
// σ and q are fixed for the run, so the budget check of every step reduces to this step count;
// the check itself stays in the training loop (invariant 6).
int64_t allowed_steps(const dp::DpPlan& plan) {
  if (plan.target_epsilon <= 0) return plan.planned_steps;
  if (plan_epsilon(plan, plan.planned_steps) <= plan.target_epsilon) return plan.planned_steps;
  return privacy::max_steps_within(plan_accountants(plan), plan.target_epsilon,
                                   plan.accountant_delta(), plan.sample_rate, plan.noise_multiplier,
                                   plan.planned_steps);
}

// Above this share of privacy.delta the sampler's bounded support is refused, not accounted:
// the noise is then far too small for the Gaussian the accountant assumes to describe it.
constexpr double kMaxSupportDeltaShare = 0.1;
// From this share on, the run's description names it.
constexpr double kNotedSupportShare = 1e-4;

double support_delta(const dp::DpPlan& plan, const privacy::NoiseSupport& support,
                     int64_t noised_coordinates) {
  return privacy::bounded_noise_delta(
      support, {.noise_multiplier = plan.noise_multiplier,
                .steps = plan.planned_steps,
                .coordinates = noised_coordinates,
                .sensitivity = plan.adjacency == privacy::Adjacency::kReplaceOne ? 2.0 : 1.0});
}

// Takes the support's δ (privacy/bounded_noise.h) from the accountant's share of δ. A calibrated
// σ is re-calibrated at the smaller share when it no longer meets the target there; the larger σ
// only shrinks the support's δ, so the amount reserved at the first σ still covers it.
void reserve_support_delta(dp::DpPlan& plan, bool secure_noise, int64_t noised_coordinates) {
  const auto support = privacy::sampler_support(secure_noise);
  const double extra = support_delta(plan, support, noised_coordinates);
  if (extra > kMaxSupportDeltaShare * plan.delta) {
    throw_input_error(
        "noise multiplier {:.6g}: the sampler's normals are bounded (radius {:.4g}, "
        "privacy.secure_noise = {}), which over {} steps of {} noised numbers adds delta {:.3g}, "
        "above {:g} of privacy.delta = {}; use more noise{} (docs/privacy.md, the noise's support)",
        plan.noise_multiplier, support.radius, secure_noise, plan.planned_steps, noised_coordinates,
        extra, kMaxSupportDeltaShare, plan.delta,
        secure_noise ? "" : " or privacy.secure_noise = true (radius 18.8)");
  }
  plan.support_delta = extra;
  if (plan.noise_calibrated && plan_epsilon(plan, plan.planned_steps) > plan.target_epsilon) {
    plan.noise_multiplier = privacy::calibrate_noise_multiplier(
        plan_accountants(plan), plan.target_epsilon, plan.accountant_delta(), plan.sample_rate,
        plan.planned_steps);
  }
}

// The batch is an expected batch q·N under Poisson sampling: above the planned N, q would exceed 1.
void check_batch_fits(int64_t batch, const PrivacyOptions& privacy, const PlanInputs& inputs) {
  if (batch <= inputs.planning_size) return;
  if (inputs.planning_size == inputs.dataset_size) {
    throw_input_error(
        "train.batch_size = {} exceeds the {} training examples; under DP it is the "
        "expected batch size q*N, so it must be <= N",
        batch, inputs.planning_size);
  }
  throw_input_error(
      "train.batch_size = {} exceeds the training set's size as planned, {} ({}); under DP it is "
      "the expected batch size q*N, so it must be <= N",
      batch, inputs.planning_size,
      privacy.public_dataset_size() > 0 ? "privacy.public_dataset_size"
                                        : "its DP count, privacy.size_noise_multiplier");
}

}  // namespace

std::vector<privacy::SgmSteps> after_releases(std::vector<privacy::SgmSteps> history,
                                              const std::vector<privacy::SgmSteps>& releases) {
  size_t at = 0;
  for (const auto& release : releases) {
    for (int64_t left = release.count; left > 0;) {
      if (at >= history.size() || history[at].noise_multiplier != release.noise_multiplier ||
          history[at].sample_rate != release.sample_rate) {
        throw std::logic_error(
            "resume: the checkpoint's accountant history does not begin with the run's data "
            "releases");
      }
      const int64_t taken = std::min(left, history[at].count);
      history[at].count -= taken;
      left -= taken;
      if (history[at].count == 0) ++at;
    }
  }
  return {history.begin() + static_cast<std::ptrdiff_t>(at), history.end()};
}

int64_t plan_steps_composed(const dp::DpPlan& plan, const privacy::Accountant& saved) {
  if (saved.adjacency() != plan.adjacency) {
    throw_input_error(
        "the checkpoint's privacy ledger holds under privacy.adjacency = {}, this recipe says {}: "
        "restore the recipe the run started with",
        privacy::to_string(saved.adjacency()), privacy::to_string(plan.adjacency));
  }
  std::vector<privacy::SgmSteps> steps;
  try {
    steps = after_releases(saved.history(), plan.preprocessing);
  } catch (const std::logic_error&) {
    throw_input_error(
        "the checkpoint's accountant does not begin with this run's {} data release(s): the "
        "checkpoint is of another run",
        plan.preprocessing.size());
  }
  int64_t taken = 0;
  for (const auto& entry : steps) {
    if (entry.noise_multiplier != plan.noise_multiplier || entry.sample_rate != plan.sample_rate) {
      throw_input_error(
          "the checkpoint's accountant composed steps of noise multiplier {} and sampling rate {}, "
          "this run's are {} and {}: the checkpoint is of another mechanism",
          entry.noise_multiplier, entry.sample_rate, plan.noise_multiplier, plan.sample_rate);
    }
    taken += entry.count;
  }
  return taken;
}

StepsClaim steps_claim(const dp::DpPlan& plan, const privacy::Accountant& told,
                       double run_epsilon) {
  StepsClaim claim{.accountant = privacy::make_accountant(told.name())};
  for (const auto& entry : after_releases(told.history(), plan.preprocessing))
    claim.accountant->compose(entry);
  claim.is_run_claim =
      plan.preprocessing.empty() && plan.adjacency == privacy::Adjacency::kAddRemove;
  claim.epsilon = claim.is_run_claim ? run_epsilon : claim.accountant->epsilon(plan.delta);
  return claim;
}

privacy::AccountantFactory plan_accountants(const dp::DpPlan& plan) {
  return privacy::accountant_factory(plan.accountant, plan.preprocessing, plan.adjacency);
}

double plan_epsilon(const dp::DpPlan& plan, int64_t steps) {
  return privacy::epsilon_for(plan_accountants(plan), plan.noise_multiplier, plan.sample_rate,
                              steps, plan.accountant_delta());
}

dp::DpPlan make_dp_plan(const TrainOptions& train, const PrivacyOptions& privacy,
                        const PlanInputs& inputs) {
  check_batch_fits(train.batch_size(), privacy, inputs);
  dp::DpPlan plan;
  plan.dataset_size = inputs.dataset_size;
  plan.planning_size = inputs.planning_size;
  plan.sample_rate =
      static_cast<double>(train.batch_size()) / static_cast<double>(inputs.planning_size);
  plan.expected_batch_size = static_cast<double>(train.batch_size());
  plan.clip = dp::ClipOptions().max_grad_norm(privacy.max_grad_norm()).mode(privacy.clipping());
  plan.accountant = privacy.accountant();
  plan.adjacency = privacy.adjacency();
  plan.delta = privacy.delta();
  plan.target_epsilon = privacy.target_epsilon();
  plan.planned_steps =
      privacy::steps_for_epochs(static_cast<double>(train.epochs()), plan.sample_rate);
  for (const double release : inputs.gaussian_releases)
    plan.preprocessing.push_back({release, 1.0, 1});
  plan.preprocessing_delta = inputs.release_delta;
  if (!(plan.accountant_delta() > 0)) {
    throw_input_error(
        "the DP vocabularies' thresholds spend delta {} of privacy.delta = {}, leaving none for "
        "the accountant; lower data.dp_vocabulary_delta_share",
        inputs.release_delta, plan.delta);
  }
  plan.noise_multiplier = privacy.noise_multiplier();
  plan.noise_calibrated = plan.noise_multiplier == 0;
  if (plan.noise_calibrated) {
    try {
      plan.noise_multiplier = privacy::calibrate_noise_multiplier(
          plan_accountants(plan), plan.target_epsilon, plan.accountant_delta(), plan.sample_rate,
          plan.planned_steps);
    } catch (const std::domain_error& error) {
      throw_input_error(
          "privacy.target_epsilon = {} is unreachable with q = {} over {} steps{}: {}",
          plan.target_epsilon, plan.sample_rate, plan.planned_steps,
          plan.preprocessing.empty()
              ? ""
              : " after the data statistics' release (data.dp_stats_noise_multiplier)",
          error.what());
    }
  }
  // The release alone may exceed the budget; training zero steps would hide that, so refuse it.
  if (plan.target_epsilon > 0 && !plan.preprocessing.empty() &&
      plan_epsilon(plan, 0) > plan.target_epsilon) {
    throw_input_error(
        "the data statistics' release alone (data.dp_stats_noise_multiplier = {}) spends epsilon "
        "{} at delta {}, above privacy.target_epsilon = {}; raise the noise multiplier of the "
        "release or the target",
        plan.preprocessing.front().noise_multiplier, plan_epsilon(plan, 0), plan.delta,
        plan.target_epsilon);
  }
  plan.canaries = inputs.canaries;
  reserve_support_delta(plan, secure_noise(privacy, train), inputs.parameters + inputs.canaries);
  plan.noise_std = plan.noise_multiplier * plan.clip.max_grad_norm();
  plan.allowed_steps = allowed_steps(plan);
  return plan;
}

std::vector<PlanWarning> plan_warnings(const TrainOptions& train, const PrivacyOptions& privacy,
                                       int64_t dataset_size) {
  std::vector<PlanWarning> warnings;
  const bool dp = privacy.enabled();
  const double n = static_cast<double>(dataset_size);
  const double batch = static_cast<double>(std::min(train.batch_size(), dataset_size));
  const double q = batch / n;
  // The steps each trainer plans: Poisson steps = ceil(epochs / q) (make_dp_plan); shuffled
  // epochs of ceil(N / B) batches (trainer.cpp).
  const int64_t steps = dp ? privacy::steps_for_epochs(static_cast<double>(train.epochs()), q)
                           : train.epochs() * ((dataset_size + static_cast<int64_t>(batch) - 1) /
                                               static_cast<int64_t>(batch));
  if (dp && q > kHighSampleRate) {
    warnings.push_back(
        {"sample_rate", fmt::format("q {:.3g} > {}", q, kHighSampleRate),
         fmt::format("q = {:.3g} (train.batch_size {} of N = {}) is above {}: subsampling then "
                     "amplifies privacy little, so each step costs nearly a full-batch step of "
                     "privacy; lower train.batch_size or train on more data",
                     q, train.batch_size(), dataset_size, kHighSampleRate)});
  }
  if (steps < kFewSteps) {
    warnings.push_back(
        {"steps", fmt::format("{} steps < {}", steps, kFewSteps),
         fmt::format("only {} steps are planned (train.epochs = {}, {} examples per step of N = "
                     "{}): fewer than {} rarely train a useful model{}; raise train.epochs or "
                     "lower train.batch_size",
                     steps, train.epochs(), train.batch_size(), dataset_size, kFewSteps,
                     dp ? ", and under DP accuracy and epsilon then say little" : "")});
  }
  if (dp && privacy.delta() >= 1.0 / n) {
    warnings.push_back(
        {"delta", fmt::format("delta {:g} >= 1/N", privacy.delta()),
         fmt::format("privacy.delta = {} >= 1/N = {:.3g}: a mechanism that publishes one random "
                     "example outright meets this delta; use delta << 1/N",
                     privacy.delta(), 1.0 / n)});
  }
  if (batch > kLargeBatchShare * n) {
    warnings.push_back(
        {"batch_share", fmt::format("batch {} > N/4", train.batch_size()),
         fmt::format("the {}batch of {} is above a quarter of the {} training examples: each step "
                     "sees most of the data, so the run takes few steps per epoch; lower "
                     "train.batch_size",
                     dp ? "expected " : "", train.batch_size(), dataset_size)});
  }
  return warnings;
}

std::string describe(const dp::DpPlan& plan) {
  return fmt::format(
             "DP-SGD: q = {:.6g}, sigma = {:.6g}{}, C = {}, {} steps, delta = {}{}",
             plan.sample_rate, plan.noise_multiplier,
             plan.noise_calibrated ? fmt::format(" (calibrated to epsilon {})", plan.target_epsilon)
                                   : "",
             plan.clip.max_grad_norm(), plan.planned_steps, plan.delta,
             plan.adjacency == privacy::Adjacency::kReplaceOne ? ", replace-one adjacency" : "") +
         (plan.preprocessing.empty()
              ? ""
              : fmt::format(", after {} Gaussian release(s) of the training data (sigma {}{})",
                            plan.preprocessing.size(), plan.preprocessing.front().noise_multiplier,
                            plan.preprocessing_delta > 0
                                ? fmt::format("; their thresholds spend delta {:.3g} of it",
                                              plan.preprocessing_delta)
                                : "")) +
         (plan.support_delta >= kNotedSupportShare * plan.delta
              ? fmt::format(", the noise's bounded support spends delta {:.3g} of it",
                            plan.support_delta)
              : "");
}

}  // namespace dpforge::train
