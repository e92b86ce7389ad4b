// SPDX-License-Identifier: Apache-2.0
// report.json of a training run: what was trained on what, what it spent, what it reached. The
// audit and attack sections are added by the run (run/run.h) once they exist.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dp_bounds.h"
#include "dpforge/data/dp_stats.h"
#include "dpforge/data/dp_vocabulary.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/trainer.h"

namespace dpforge::report {

/// Everything report.json says about a run apart from its audits.
struct RunFacts {
  const config::Recipe& recipe;
  const train::TrainResult& result;
  /// What a private run spent (nullptr for a non-private run).
  const train::PrivacySummary* privacy = nullptr;
  std::string device;
  int64_t parameters = 0;
  std::string data_root;
  int64_t train_examples = 0, test_examples = 0, validation_examples = 0;
  /// The seed, reported only when the recipe chose it: an OS-drawn seed stays secret.
  std::optional<uint64_t> seed;
  bool resumed = false;
  /// run::recipe_hash of the resolved recipe: which run of a sweep this is.
  std::string recipe_hash;
  /// What the run warned about before training (train::plan_warnings).
  std::vector<train::PlanWarning> warnings;
  /// The training data's task, classes and example shape, and what was inferred about it.
  const data::Dataset* train_set = nullptr;
  std::vector<std::string> data_notes;
  /// The DP release of numeric columns' ranges (data.dp_stats_noise_multiplier, columns without a
  /// public range), if any.
  const data::BoundsRelease* dp_bounds = nullptr;
  /// The DP release of standardizing statistics (data.dp_stats_noise_multiplier), if any.
  const data::GaussianRelease* dp_statistics = nullptr;
  /// The DP release of category vocabularies (same key, categorical columns without public
  /// categories), if any.
  const data::VocabularyRelease* dp_vocabulary = nullptr;
  // No digest of the training data here: an un-noised function of the private rows would let
  // whoever knows all but one record confirm the last (it stays in the checkpoints only).
};

/// A private run's training-set size as the progress line and the HTML page show it: the planned N
/// (privacy.dataset_size), "~N (DP count)" for a noisy count, "N (public size)" otherwise.
std::string planned_size_text(int64_t planned, bool dp_count);

/// A report's test metrics in one line, those that fit its task (train/task_metrics.h): binary
/// "AUROC 0.7081, AUPRC 0.3312, log-loss 0.3391, accuracy 87.60% (majority class 87.60%)";
/// multi-class "accuracy 90.00%, macro-F1 0.8912"; regression "RMSE 55.25, MAE 44.5, R² 0.4212".
std::string test_metrics_text(const nlohmann::json& report);

/// report.json's object for `facts` (keys: dpforge_version, recipe, model, device, data, seed,
/// reproducible, warnings, privacy, epochs, steps, test_accuracy (null for regression), test_auroc,
/// test_rmse, test_mae, wall_seconds, versions, stopped, resumed).
nlohmann::json run_report(const RunFacts& facts);

/// The `privacy` object: ε, δ, σ, q, C, the accountant and its history, how the run stopped.
/// `release_names`: what each of privacy.preprocessing's releases is, in order.
nlohmann::json privacy_json(const train::PrivacySummary& privacy,
                            const std::vector<std::string>& release_names = {});

/// The recipe as resolved: every key and its final value as text (what a resume compares).
nlohmann::json recipe_values_json(const config::Recipe& recipe);

/// The same with typed values (report.json's recipe.values): numbers, booleans, strings, and null
/// for an unset seed.
nlohmann::json typed_recipe_values(const config::Recipe& recipe);

/// A value of either form back as recipe text (reports of older versions hold text).
std::string recipe_value_text(const nlohmann::json& value);

}  // namespace dpforge::report
