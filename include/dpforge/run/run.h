// SPDX-License-Identifier: Apache-2.0
// One `dpforge train` run: data → model → training → audits → DIR/report.json + DIR/model.pt.
#pragma once
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"
#include "dpforge/data/dp_bounds.h"
#include "dpforge/data/table_encoding.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run {

struct RunOutcome {
  train::TrainResult result;
  nlohmann::json report;
};

/// Trains the recipe's model and writes `out_dir`/report.json and `out_dir`/model.pt (each
/// atomically, so a crash never leaves a half-written file), with recipe.ini before training and
/// checkpoints and the privacy ledger on the way (run/run_folder.h, train/checkpoint.h). Refuses
/// (InputError) an `out_dir` that holds a finished run, or an unfinished one unless `resume`.
/// `resume`: continue the unfinished run in `out_dir` from its newest intact checkpoint (every
/// recipe key must match the run's own; all differences are named at once), or start it again
/// when it stopped before its first checkpoint. `concurrent_runs`: how many runs (this one
/// included) were started to share the CPUs; an automatic run.threads takes this run's share.
RunOutcome run_training(const config::Recipe& recipe, const std::filesystem::path& out_dir,
                        std::FILE* progress, bool resume = false, int64_t concurrent_runs = 1);

/// The Gaussian count of the training examples: count = round(N + noise_multiplier·Z), at least 1.
struct SizeRelease {
  double noise_multiplier = 0;
  int64_t count = 0;
};

/// The datasets of a recipe: the training split (a subset if data.train_subset, minus the
/// validation examples: a seeded data.validation_fraction, or the last data.validation_size) and
/// the test split (data.test, or a seeded data.test_fraction of data.train). `notes` say what was
/// inferred from the data (the task, the class count) or dropped, for the user.
struct RunData {
  data::Dataset train, test, validation;
  std::vector<std::string> notes;
  /// Columns left raw for DP statistics (data.dp_stats_noise_multiplier > 0): run_training
  /// releases them once the run's noise key is known (apply_dp_statistics).
  std::vector<data::DeferredColumn> deferred;
  /// Categorical columns read as raw codes for DP vocabularies (same key, no public vocabulary).
  std::vector<data::DeferredCategorical> deferred_categories;
  /// Numeric columns without a public range, read raw for a DP range (same key).
  std::vector<data::DeferredColumn> unbounded;
  std::optional<data::BoundsRelease> bounds;
  std::optional<data::GaussianRelease> release;
  std::optional<data::VocabularyRelease> vocabulary;
  /// The training set's size as the DP mechanism plans with it (plan_dataset_size): the declared
  /// privacy.public_dataset_size, or the DP count; the real size for a non-private run.
  int64_t planning_size = 0;
  /// The DP count, when the size is not declared public.
  std::optional<SizeRelease> size_release;
  /// A table's encoding, completed by apply_dp_statistics (what model.json records).
  std::optional<data::TableEncoding> encoding;
};
RunData load_run_data(const config::Recipe& recipe);

/// What a private run of `data` knows before its first step: its planning size and the releases
/// recorded in data.bounds, data.release, data.vocabulary and data.size_release, in that order (the
/// order report.json lists them in). The one place the releases reach the plan
/// (train::train_private).
train::BeforeTraining before_training(const RunData& data);

/// Estimates the unbounded columns' ranges (data/dp_bounds.h), the deferred columns' statistics
/// (data/dp_stats.h; with data.scaling = standardize the unbounded columns join them, over their
/// released ranges) and the deferred categorical columns' vocabularies (data/dp_vocabulary.h) with
/// DP on `data.train` (noise from `seed`), scales, standardizes and encodes
/// (data.categorical_encoding) every split with them; the releases are recorded in data.bounds,
/// data.release and data.vocabulary (for the accountant: before_training) and in
/// `stored` (what a checkpoint and report.json keep: the released
/// numbers and a digest of the training inputs). With `stored` already set (a resumed run, or
/// `dpforge audit` reading the run's report), its numbers are reused instead, after checking the
/// digest of a checkpoint's record (InputError when the training data changed, when the record does
/// not match the deferred columns, or when it exists but nothing is deferred any more). No-op
/// without deferred columns and record. Where a set `stored` comes from: a checkpoint (the digest
/// is checked) or a finished run's report.json (which holds no digest: it would leak the data).
enum class ReleaseRecord { kFromCheckpoint, kFromReport };
void apply_dp_statistics(const config::Recipe& recipe, RunData& data, uint64_t seed,
                         nlohmann::json& stored,
                         ReleaseRecord record = ReleaseRecord::kFromCheckpoint);

/// Under DP the mechanism (q = batch / N, the steps, σ, the divisor) must not depend on the exact
/// number of private examples, which differs between neighbouring datasets under add/remove
/// adjacency (under replace-one it is public and used as is): it plans with a size from
/// config::dataset_size_source, the DP count being a Gaussian
/// count released here (noise from `seed`), composed in the accountant (data.size_release, after
/// the DP statistics' releases: before_training) and recorded in
/// `stored["dataset_size"]`, which a resumed run reuses (InputError when its noise multiplier is
/// not the recipe's). Sets data.planning_size.
void plan_dataset_size(const config::Recipe& recipe, RunData& data, uint64_t seed,
                       nlohmann::json& stored);

/// The recipe's data root with defaults applied.
std::filesystem::path data_root(const config::Recipe& recipe);

/// Where the data came from, for the report: the Fashion-MNIST root, or data.train (| data.test).
std::string data_source(const config::Recipe& recipe);

}  // namespace dpforge::run
