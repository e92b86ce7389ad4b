// SPDX-License-Identifier: Apache-2.0
// The two ways dpforge trains a model: DP-SGD and ordinary mini-batch training, both through the
// one training loop (train_loop.h). No recipe is needed: the options structs (options.h) are the
// engine's whole configuration.
//
// Example (Engine.HeaderExampleTrainsWithoutARecipe runs it):
//   data::Dataset train_set{.inputs = features, .labels = labels, .num_classes = 2};
//   auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(32), train_set);
//   const auto adam = train::OptimizerKind::kAdam;
//   const auto options =
//       train::PrivateTrainingOptions()
//           .train(train::TrainOptions().epochs(20).batch_size(64).optimizer(adam).lr(5e-3))
//           .privacy(train::PrivacyOptions().enabled(true).max_grad_norm(1).target_epsilon(3));
//   const train::PrivateSeeds seeds{.sampler = secure_random_seed(),
//                                   .noise = secure_random_seed(),
//                                   .secure_noise = true,
//                                   .sensitivity_check = secure_random_seed()};
//   train::PrivacySummary privacy;  // what the run spent: ε, δ, σ, q, steps
//   const auto result = train::train_private(options, model, train_set, train::HeldOut{test_set},
//                                            seeds, stderr, privacy);
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/data/dataset.h"
#include "dpforge/dp/plan.h"
#include "dpforge/train/checkpoint.h"
#include "dpforge/train/metrics.h"
#include "dpforge/train/options.h"

namespace dpforge::train {

/// Non-private training: each epoch visits a fresh random permutation of `train_set` in batches of
/// train.batch_size (physical batches of at most train.max_physical_batch accumulated), then
/// evaluates on `test_set`. `seed` drives the batch order. Progress goes to `progress` (nullptr:
/// silent): one rewritten line on a terminal, periodic lines otherwise.
/// With `checkpoints`, snapshots go to its store and a resume point is continued bit for bit.
TrainResult train_nonprivate(const TrainOptions& options, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const HeldOut& held_out, uint64_t seed,
                             std::FILE* progress, RunCheckpoints* checkpoints = nullptr);

/// What a private run spent and how: the `privacy` object of report.json. The mechanism is the
/// plan itself, not a copy of its fields: what the report, the audits and a resume read is what the
/// step executed and the accountant was told.
struct PrivacySummary {
  /// The run's frozen plan (train::make_dp_plan): σ, q, C, δ, the releases before training.
  dp::DpPlan plan;
  bool secure_noise = false;
  double epsilon = 0;    // accountant's ε over every step taken, at plan.accountant_delta()
  double rdp_order = 0;  // optimal order, for the rdp accountant
  int64_t steps = 0;     // DP-SGD steps taken (plan.planned_steps were asked for)
  bool stopped_by_budget = false;
  nlohmann::json accountant_state;
  /// What the sensitivity check saw (audit/sensitivity_check.h): report.json's
  /// diagnostics.sensitivity_check.
  nlohmann::json sensitivity_check;
};

/// Seeds of a private run's randomness. From the OS unless the recipe fixes train.seed.
struct PrivateSeeds {
  uint64_t sampler = 0;
  uint64_t noise = 0;
  /// Secure noise stream (kernels::philox_secure_normal4); the key should be from the CSPRNG.
  bool secure_noise = false;
  /// Which steps and examples the sensitivity check compares (audit/sensitivity_check.h): the
  /// auditor's, never the trainer's randomness.
  uint64_t sensitivity_check = 0;
};

/// The seeds of a training run the auditor makes for itself (shadow models, input canaries), all
/// derived from `seed` (core/random.h derive_seed): such a model is never released, so its noise
/// needs no key beyond the auditor's, and a seeded audit repeats exactly.
PrivateSeeds auditor_run_seeds(uint64_t seed, bool secure_noise);

/// What a private run knows before its first step besides its options, all of it public or
/// released under DP: the N it plans with and what was released from the training set. The plan
/// holds the releases (DpPlan::preprocessing) and its accountant composes them first.
struct BeforeTraining {
  /// The N of q = batch / N, of the steps and of σ (run::plan_dataset_size: public or a DP count,
  /// so the mechanism does not depend on the exact size); 0 = the training set's own size, for
  /// the audits' own training runs, which release nothing.
  int64_t planning_size = 0;
  /// Noise multipliers of the Gaussian releases (sampling rate 1) computed from the training set:
  /// DP ranges, DP statistics, DP vocabularies' counts, the DP count of N, in that order.
  std::vector<double> gaussian_releases;
  /// δ they spend outside that composition (the DP vocabularies' thresholds).
  double release_delta = 0;
};

/// DP-SGD: Poisson-sampled logical batches at rate q = train.batch_size / N, per-example clipping,
/// Gaussian noise calibrated to privacy.target_epsilon (or the given σ), the accountant's ε
/// checked before every step so a target budget is never exceeded.
/// With `canaries`, its member canaries join the training population (white-box audit).
/// With `checkpoints`, the privacy ledger is written before the steps it pays for, snapshots go
/// to its store, and a resume point is continued bit for bit. `before`: what the run released
/// before training and the N it plans with (run::before_training).
TrainResult train_private(const PrivateTrainingOptions& options, torch::nn::Sequential& model,
                          const data::Dataset& train_set, const HeldOut& held_out,
                          const PrivateSeeds& seeds, std::FILE* progress, PrivacySummary& privacy,
                          audit::DiracCanaries* canaries = nullptr,
                          RunCheckpoints* checkpoints = nullptr, const BeforeTraining& before = {});

}  // namespace dpforge::train
