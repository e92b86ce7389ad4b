// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <torch/nn/modules/container/sequential.h>

#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"
#include "dpforge/train/checkpoint.h"

namespace dpforge::train {

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
};

struct EpochMetrics {
  int64_t epoch = 0;
  int64_t steps = 0;  // optimizer steps taken so far
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double seconds = 0;  // wall time of this epoch, evaluation included
  std::optional<double> validation_accuracy;  // with data.validation_size
  std::optional<double> epsilon;              // spent so far (private runs)
};

/// The held-out data evaluated after every epoch.
struct HeldOut {
  const data::Dataset& test;
  /// data.validation_size examples held out of training; train.early_stopping_patience watches them.
  const data::Dataset* validation = nullptr;
};

/// Why training should stop early ("" = go on): the validation accuracy has not improved for
/// `patience` epochs (0 = never stop).
std::string early_stop_reason(const std::vector<EpochMetrics>& epochs, int64_t patience);

nlohmann::json to_json(const EpochMetrics& metrics);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& json);

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  int64_t steps = 0;
  /// Set when training stopped because the parameters became NaN/Inf (divergence): says why.
  std::string diverged;
  /// Set when early stopping ended training before the last epoch: says why.
  std::string stopped_early;
  double test_accuracy = 0;
  double wall_seconds = 0;
};

/// Empty when every parameter of `model` is finite, else why training must stop. Parameters are
/// a function of the privatized updates, so under DP this check costs no privacy.
std::string divergence(const torch::nn::Module& model, const config::Recipe& recipe, int64_t step);

/// Mean cross-entropy and accuracy of `model` (in eval mode) on `dataset`.
Evaluation evaluate(torch::nn::Sequential& model, const data::Dataset& dataset,
                    int64_t batch_size = 1000);

/// Closes an epoch: evaluates `model` on the held-out sets and records the running training
/// statistics (`loss_sum` and `correct` over `seen` examples; zeros when none were seen).
EpochMetrics finish_epoch(torch::nn::Sequential& model, const HeldOut& held_out, int64_t epoch,
                          int64_t steps, double loss_sum, int64_t correct, int64_t seen,
                          double seconds);

/// The progress line of a finished epoch; `extra` is appended before the time (e.g. ε so far).
std::string describe_epoch(const EpochMetrics& metrics, int64_t epochs, const std::string& extra = "");

/// Non-private training: each epoch visits a fresh random permutation of `train_set` in batches of
/// train.batch_size (physical batches of at most train.max_physical_batch accumulated), then
/// evaluates on `test_set`. `seed` drives the batch order. Progress goes to `progress` (nullptr:
/// silent): one rewritten line on a terminal, periodic lines otherwise.
/// With `checkpoints`, snapshots go to its store and a resume point is continued bit for bit.
TrainResult train_nonprivate(const config::Recipe& recipe, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const HeldOut& held_out,
                             uint64_t seed, std::FILE* progress,
                             RunCheckpoints* checkpoints = nullptr);

/// What a private run spent and how: the `privacy` object of report.json.
struct PrivacySummary {
  double noise_multiplier = 0;
  double sample_rate = 0;
  double expected_batch_size = 0;
  double max_grad_norm = 0;
  double delta = 0;
  double epsilon = 0;            // accountant's ε over every step taken
  double rdp_order = 0;          // optimal order, for the rdp accountant
  double target_epsilon = 0;     // 0 = none
  std::string clipping;
  std::string accountant;
  int64_t steps = 0;             // steps taken
  int64_t planned_steps = 0;     // steps the recipe asked for
  int64_t empty_batches = 0;     // logical batches with no example (still noised and counted)
  int64_t examples_dropped_nonfinite = 0;
  bool stopped_by_budget = false;
  std::string fault = "none";    // auditor-validation fault injected, if any
  bool secure_noise = false;
  nlohmann::json accountant_state;
};

/// Seeds of a private run's randomness. From the OS unless the recipe fixes train.seed.
struct PrivateSeeds {
  uint64_t sampler = 0;
  uint64_t noise = 0;
  /// Secure noise stream (kernels::philox_secure_normal4); the key should be from the CSPRNG.
  bool secure_noise = false;
};

/// DP-SGD: Poisson-sampled logical batches at rate q = train.batch_size / N, per-example clipping,
/// Gaussian noise calibrated to privacy.target_epsilon (or the given σ), the accountant's ε
/// checked before every step so a target budget is never exceeded.
/// With `canaries`, its member canaries join the training population (white-box audit).
/// With `checkpoints`, the privacy ledger is written before the steps it pays for, snapshots go
/// to its store, and a resume point is continued bit for bit.
TrainResult train_private(const config::Recipe& recipe, torch::nn::Sequential& model,
                          const data::Dataset& train_set, const HeldOut& held_out,
                          const PrivateSeeds& seeds, std::FILE* progress, PrivacySummary& privacy,
                          audit::DiracCanaries* canaries = nullptr,
                          RunCheckpoints* checkpoints = nullptr);

}  // namespace dpforge::train
