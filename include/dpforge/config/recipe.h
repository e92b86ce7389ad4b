// SPDX-License-Identifier: Apache-2.0
// A recipe: the typed form of an INI file plus `--set section.key=value` overrides. This header is
// the only public view of it; src/config/recipe.cpp is the only file that knows
// Boost.Program_options. Field names equal recipe keys (`train.lr` <-> TrainOptions::lr).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dpforge/audit/sensitivity_check.h"
#include "dpforge/core/enum_names.h"
#include "dpforge/core/options.h"
#include "dpforge/data/sources.h"
#include "dpforge/dp/clipping.h"
#include "dpforge/nn/models.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/train/options.h"

namespace dpforge::config {

// The recipe's choices as enums: parsed once here, never compared as strings downstream. Choices
// that belong to a module (clipping mode, accountant, architecture) are that module's enums.
enum class Device { kAuto, kCpu, kCuda };
inline constexpr EnumNames<Device, 3> kDeviceNames{
    {{{Device::kAuto, "auto"}, {Device::kCpu, "cpu"}, {Device::kCuda, "cuda"}}}};
enum class Subset { kFirst, kRandom };
inline constexpr EnumNames<Subset, 2> kSubsetNames{
    {{{Subset::kFirst, "first"}, {Subset::kRandom, "random"}}}};
using train::kLrScheduleNames;
using train::kOptimizerNames;
using train::kSecureNoiseNames;
using train::LrSchedule;
using train::OptimizerKind;
using train::SecureNoise;

/// data.scaling as the recipe gives it: auto is resolved by resolved_scaling.
enum class ScalingChoice { kAuto, kNone, kStandardize, kMinMax };
inline constexpr EnumNames<ScalingChoice, 4> kScalingChoiceNames{
    {{{ScalingChoice::kAuto, "auto"},
      {ScalingChoice::kNone, "none"},
      {ScalingChoice::kStandardize, "standardize"},
      {ScalingChoice::kMinMax, "minmax"}}}};

/// The noise multiplier data.dp_stats_noise_multiplier = auto stands for in a private run on your
/// own data: the cars and scikit-learn recipes' value, where the ranges and vocabularies of a few
/// hundred rows stay usable and their share of a target epsilon of 1-3 stays small.
inline constexpr double kDefaultStatsNoiseMultiplier = 5.0;

/// The test share of data.train when a recipe gives neither data.test nor data.test_fraction.
inline constexpr double kDefaultTestFraction = 0.2;

/// The name of a recipe choice, as the recipe spells it.
template <typename Enum, std::size_t N>
std::string name_of(const EnumNames<Enum, N>& names, Enum value) {
  return std::string(names.name(value));
}

struct RunOptions {
  /// Name of the run, used for the default output folder. Default: the recipe file's stem.
  DPF_ARG(std::string, name) = "";
  /// Compute threads for LibTorch; 0 = auto (core/cpus.h: the CPUs this process may use).
  DPF_ARG(int64_t, threads) = 0;
  /// auto (CUDA when available), cpu or cuda.
  DPF_ARG(Device, device) = Device::kAuto;
};

/// [data]: where the examples come from (data/sources.h reads them). Lists are comma-separated.
struct DataOptions {
  /// fashion-mnist, or the format of data.train / data.test; auto (resolved when the recipe is
  /// read): fashion-mnist without data.train, else by its file name.
  DPF_ARG(data::Format, format) = data::Format::kAuto;
  /// Folder with the four Fashion-MNIST IDX .gz files. Empty: $DPFORGE_DATA_ROOT, else Debian's
  /// /usr/share/datasets/fashion-mnist.
  DPF_ARG(std::string, root) = "";
  /// One file (csv, npz) or "inputs,labels" (npy, idx).
  DPF_ARG(std::string, train) = "";
  /// Like train; empty: test_fraction of train is held out.
  DPF_ARG(std::string, test) = "";
  DPF_ARG(double, test_fraction) = 0.0;
  DPF_ARG(double, validation_fraction) = 0.0;
  /// Seed of the fraction splits (chooses data only).
  DPF_ARG(int64_t, split_seed) = 0;
  DPF_ARG(std::string, label) = "";
  DPF_ARG(std::string, features) = "";
  DPF_ARG(std::string, categorical) = "";
  DPF_ARG(data::CategoricalEncoding, categorical_encoding) = data::CategoricalEncoding::kOneHot;
  DPF_ARG(std::string, label_values) = "";
  DPF_ARG(int64_t, classes) = 0;
  /// Classes whose examples are kept in every split ("5-9", "0,2,4"); empty: all. The model
  /// keeps its outputs for every class (data.classes); only which examples it sees changes.
  DPF_ARG(std::string, keep_classes) = "";
  DPF_ARG(data::Layout, layout) = data::Layout::kNchw;
  /// auto: minmax for a private run on a CSV table (each column's range public in data.stats or
  /// released under DP), none otherwise (config::resolved_scaling).
  DPF_ARG(ScalingChoice, scaling) = ScalingChoice::kAuto;
  /// A JSON file of public statistics; empty = none.
  DPF_ARG(std::string, stats) = "";
  /// σ_s of the DP releases of statistics data.stats does not give (ranges, standardizing
  /// statistics, vocabularies; data/dp_bounds.h, dp_stats.h, dp_vocabulary.h); 0 = none (they must
  /// then be public); nullopt = auto (config::stats_noise_multiplier).
  DPF_ARG(std::optional<double>, dp_stats_noise_multiplier) = std::nullopt;
  DPF_ARG(double, dp_vocabulary_delta_share) = 0.1;
  DPF_ARG(data::Missing, missing) = data::Missing::kError;
  DPF_ARG(double, fill_value) = 0.0;
  /// Train on this many examples only; 0 = all.
  DPF_ARG(int64_t, train_subset) = 0;
  /// How train_subset picks examples: the first N or a seeded random subset.
  DPF_ARG(Subset, subset) = Subset::kFirst;
  /// Seed of the random subset (not a privacy-relevant seed: it only chooses the data).
  DPF_ARG(int64_t, subset_seed) = 0;
  /// Evaluate on this many test examples only; 0 = all.
  DPF_ARG(int64_t, test_subset) = 0;
  /// Hold the last N examples of the training split out of training, as the validation set that
  /// train.early_stopping_patience watches. 0 = none.
  DPF_ARG(int64_t, validation_size) = 0;
};

/// [model]: the model zoo's own options (nn/models.h).
using ModelOptions = nn::ModelOptions;

/// [train] and [privacy]: the training engine's own options (train/options.h).
using TrainOptions = train::TrainOptions;
using PrivacyOptions = train::PrivacyOptions;

struct AuditOptions {
  /// Audit the privacy claim of every private run (white-box, one run, Dirac canaries).
  DPF_ARG(bool, enabled) = true;
  /// Number of canaries m (each a member with probability 1/2).
  DPF_ARG(int64_t, canaries) = 5000;
  /// Confidence of the reported lower bounds.
  DPF_ARG(double, confidence) = 0.95;
  /// Canaries ride along in the training run itself (they only touch auditor-owned coordinates,
  /// so the model is unaffected); false: a second, separate training run carries them.
  DPF_ARG(bool, inline_run) = true;
  /// Seed of the auditor's secret generator; unset: from the OS (canary membership must stay
  /// secret from the training code). Set only to reproduce an audit.
  DPF_ARG(std::optional<uint64_t>, seed) = std::nullopt;
  /// Input-space canaries (flipped-label examples) for a black-box one-run audit in a separate
  /// training run; 0 = none.
  DPF_ARG(int64_t, input_canaries) = 0;
  /// Shadow models for LiRA and RMIA on the released model (each one more training run); 0 = none.
  DPF_ARG(int64_t, shadow_models) = 0;
  /// Fraction of a private run's steps, beyond its first with examples, at which the sensitivity
  /// check (audit/sensitivity_check.h) compares contributions with single-example autograd.
  DPF_ARG(double, sensitivity_rate) = audit::kDefaultSensitivityRate;
};

/// What `dpforge sweep` varies when the command line adds nothing (ignored by `dpforge train`).
struct SweepOptions {
  /// "key=v1,v2; key2=v3,v4": the cartesian product of the values.
  DPF_ARG(std::string, grid) = "";
  /// "name: key=value key=value | name2: …": named sets of overrides, crossed with the grid.
  DPF_ARG(std::string, variants) = "";
};

struct Recipe {
  /// The file it was read from ("" when built in code).
  std::string path;
  RunOptions run;
  DataOptions data;
  ModelOptions model;
  TrainOptions train;
  PrivacyOptions privacy;
  AuditOptions audit;
  SweepOptions sweep;
};

/// Reads `path` and applies `overrides` ("section.key=value", later ones win). Throws InputError
/// naming the file (or --set), the key and the allowed values for unknown keys, bad types, values
/// out of range and unreadable files.
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

/// The same from a stream; `path` names it in messages (used by load_recipe and the fuzzer).
Recipe parse_recipe(std::istream& text, const std::string& path,
                    const std::vector<std::string>& overrides = {});

/// Applies overrides to a recipe built in code; same checks as load_recipe.
void apply_overrides(Recipe& recipe, const std::vector<std::string>& overrides);

/// Where a private run's planned N comes from (run::plan_dataset_size):
/// privacy.public_dataset_size; for the built-in Fashion-MNIST, the recipe (its published 60,000
/// training images, the subset and the validation carve: no row is read); otherwise a DP count of
/// the rows; under replace-one adjacency, the rows' own count (neighbours have the same N).
enum class DatasetSizeSource { kDeclared, kRecipe, kDpCount, kReplaceOne };
DatasetSizeSource dataset_size_source(const Recipe& recipe);

/// privacy.secure_noise resolved: auto means on unless train.seed is set.
inline bool secure_noise(const Recipe& recipe) {
  return train::secure_noise(recipe.privacy, recipe.train);
}

/// What the training engine needs of `recipe` for a private run.
inline train::PrivateTrainingOptions private_training_options(const Recipe& recipe) {
  return train::PrivateTrainingOptions()
      .train(recipe.train)
      .privacy(recipe.privacy)
      .sensitivity_rate(recipe.audit.sensitivity_rate());
}

/// data.format with auto resolved: fashion-mnist without data.train, else by its file name
/// (InputError naming `origin` when the name says nothing).
data::Format resolved_format(const DataOptions& data, const std::string& origin = "recipe");

/// data.scaling with auto resolved: min-max scaling for a private run on a CSV table, whose
/// columns' ranges are public or released under DP (stats_noise_multiplier), so that no column's
/// units set its weight in the clipped gradient; none otherwise (a non-private run would need
/// every range public, and arrays of images are scaled by their dtype).
data::Scaling resolved_scaling(const Recipe& recipe);

/// data.dp_stats_noise_multiplier with auto resolved: kDefaultStatsNoiseMultiplier in a private
/// run on your own data (a release happens only for statistics data.stats does not give), else 0.
double stats_noise_multiplier(const Recipe& recipe);

/// Whether the recipe sets data.dp_stats_noise_multiplier itself (a value with nothing to
/// estimate is then an error, not a silent no-op).
inline bool stats_noise_multiplier_given(const Recipe& recipe) {
  return recipe.data.dp_stats_noise_multiplier().has_value();
}

/// InputError naming the recipe when model.init names no file. Checked when a run starts, not
/// when a recipe is read: a fine-tuning recipe names weights that an earlier run writes.
void check_model_init_exists(const Recipe& recipe);

/// data.keep_classes as class indices, ascending and distinct ("5-9" is 5,6,7,8,9); empty when
/// it is empty. InputError naming the key on anything but non-negative integers and ranges.
std::vector<int64_t> kept_classes(const DataOptions& data);

/// The share of data.train held out for testing: data.test_fraction, or kDefaultTestFraction for
/// your own data when the recipe gives neither data.test nor data.test_fraction.
double test_fraction(const DataOptions& data);

/// Every recipe key with its type, allowed values, default and meaning (docs/recipes.md mirrors
/// it).
struct KeyInfo {
  std::string key;  // "section.name"
  std::string type;
  std::string allowed;
  std::string default_value;
  std::string doc;
};
std::vector<KeyInfo> recipe_keys();

/// A key recipes once had, the value every run had while it existed, and where its job went. Old
/// recipes and run folders (recipe.ini, report.json) still name it: that value is accepted and
/// means nothing, any other is an InputError saying why. A seeded run's key hashes it at that value
/// (run/run_identity.cpp), so a recipe repeats its bytes across versions.
struct RetiredKey {
  std::string key;
  std::string value;
  std::string why;
};
const std::vector<RetiredKey>& retired_recipe_keys();
/// The retired key `key`, if it is one.
const RetiredKey* find_retired_key(const std::string& key);

/// The recipe as resolved: every key and its final value as text, in documentation order.
std::vector<std::pair<std::string, std::string>> resolved_values(const Recipe& recipe);

/// The resolved recipe as an INI file that load_recipe reads back to the same values (a run
/// folder's recipe.ini).
std::string to_ini(const Recipe& recipe);

}  // namespace dpforge::config
