// SPDX-License-Identifier: Apache-2.0
// The DP releases of the training data before training (ranges, standardizing statistics,
// vocabularies): made once the run's noise key is known, or read back from a checkpoint or a
// report, and handed to the plan (before_training) in the order report.json lists them.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string_view>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/core/text.h"
#include "dpforge/data/dp_bounds.h"
#include "dpforge/data/dp_vocabulary.h"
#include "dpforge/run/run.h"

namespace dpforge::run {
namespace {

// The ranges of the numeric columns without public ones: released now, or read back from `stored`
// (checked against the recipe: another noise multiplier or column list would be accounted
// wrongly). Then min-max scaled over them, or, under data.scaling = standardize, handed to the
// standardizing release as its columns' ranges: so this release comes first.
void apply_bounds(const config::Recipe& recipe, RunData& data, uint64_t seed,
                  nlohmann::json& stored, bool fresh) {
  if (data.unbounded.empty()) return;
  const double sigma = config::stats_noise_multiplier(recipe);
  if (fresh) {
    data.bounds = data::dp_bounds(data.train, data.unbounded, sigma, seed);
    stored["bounds"] = {{"noise_multiplier", data.bounds->noise_multiplier},
                        {"threshold", data.bounds->threshold},
                        {"columns", data.bounds->columns},
                        {"lows", data.bounds->lows},
                        {"highs", data.bounds->highs}};
  } else {
    if (!stored.contains("bounds"))
      throw_input_error("the record of the run's DP releases holds no DP ranges (data.dp_bounds)");
    const auto& record = stored.at("bounds");
    data::BoundsRelease release;
    release.what = data::describe_bounds_release(data.unbounded.size());
    release.noise_multiplier = record.at("noise_multiplier").get<double>();
    release.sensitivity = std::sqrt(static_cast<double>(data.unbounded.size()));
    release.threshold = record.at("threshold").get<double>();
    release.columns = record.at("columns").get<std::vector<std::string>>();
    release.lows = record.at("lows").get<std::vector<double>>();
    release.highs = record.at("highs").get<std::vector<double>>();
    std::vector<std::string> names;
    for (const auto& column : data.unbounded) names.push_back(column.name);
    if (release.noise_multiplier != sigma || release.columns != names ||
        release.lows.size() != names.size() || release.highs.size() != names.size()) {
      throw_input_error(
          "the recorded DP ranges were released for columns {} with noise multiplier {}; this "
          "recipe releases columns {} with data.dp_stats_noise_multiplier = {}: restore the "
          "recipe and statistics file the run started with",
          fmt::join(release.columns, ", "), release.noise_multiplier, fmt::join(names, ", "),
          sigma);
    }
    for (size_t j = 0; j < names.size(); ++j) {
      if (!(release.highs[j] > release.lows[j]))
        throw_input_error("the recorded DP range of column '{}' is empty", names[j]);
    }
    data.bounds = std::move(release);
  }
  const auto& bounds = *data.bounds;
  if (config::resolved_scaling(recipe) == data::Scaling::kStandardize) {
    for (size_t j = 0; j < data.unbounded.size(); ++j) {
      auto column = data.unbounded[j];
      column.low = bounds.lows[j];
      column.high = bounds.highs[j];
      data.deferred.push_back(std::move(column));
    }
    return;
  }
  // Min-max: features onto [0, 1]; a regression target onto [−1, 1] (its range's centre and
  // half-width as mean and std: a fixed rule on the release, so nothing more is spent).
  std::vector<data::DeferredColumn> features;
  std::vector<double> lows, highs;
  for (size_t j = 0; j < data.unbounded.size(); ++j) {
    const auto& column = data.unbounded[j];
    if (column.of == data::StatisticOf::kTarget) {
      const double centre = 0.5 * (bounds.lows[j] + bounds.highs[j]),
                   half_width = 0.5 * (bounds.highs[j] - bounds.lows[j]);
      for (auto* split : {&data.train, &data.test, &data.validation})
        data::standardize_columns(*split, {column}, {centre}, {half_width});
      continue;
    }
    features.push_back(column);
    lows.push_back(bounds.lows[j]);
    highs.push_back(bounds.highs[j]);
  }
  for (auto* split : {&data.train, &data.test, &data.validation})
    data::scale_to_ranges(*split, features, lows, highs);
}

// The standardizing statistics of the deferred numeric columns: released now, or read back from
// `stored` (a resumed run's, or the audited run's report).
void apply_standardization(const config::Recipe& recipe, RunData& data, uint64_t seed,
                           nlohmann::json& stored, bool fresh) {
  if (data.deferred.empty()) return;
  if (fresh) {
    data.release = data::dp_standardize(data.train, {&data.test, &data.validation}, data.deferred,
                                        config::stats_noise_multiplier(recipe), seed);
    stored["columns"] = data.release->columns;
    stored["noise_multiplier"] = data.release->noise_multiplier;
    stored["means"] = data.release->means;
    stored["stds"] = data.release->stds;
    return;
  }
  data::GaussianRelease release;
  release.noise_multiplier = stored.at("noise_multiplier").get<double>();
  if (release.noise_multiplier != config::stats_noise_multiplier(recipe)) {
    throw_input_error(
        "the recorded DP statistics were released with noise multiplier {}, this recipe's "
        "data.dp_stats_noise_multiplier is {}: restore the recipe the run started with",
        release.noise_multiplier, config::stats_noise_multiplier(recipe));
  }
  release.sensitivity = data::release_sensitivity(data.deferred.size());
  release.what = data::describe_release(data.deferred.size());
  for (const auto& column : data.deferred) release.columns.push_back(column.name);
  if (stored.contains("columns") &&
      stored.at("columns").get<std::vector<std::string>>() != release.columns) {
    throw_input_error("the recorded DP statistics name columns {}; this recipe defers {}",
                      fmt::join(stored.at("columns").get<std::vector<std::string>>(), ", "),
                      fmt::join(release.columns, ", "));
  }
  release.means = stored.at("means").get<std::vector<double>>();
  release.stds = stored.at("stds").get<std::vector<double>>();
  if (release.means.size() != release.columns.size() ||
      release.stds.size() != release.columns.size()) {
    throw_input_error("the recorded DP statistics hold {} means and {} stds for {} columns",
                      release.means.size(), release.stds.size(), release.columns.size());
  }
  for (auto* split : {&data.train, &data.test, &data.validation})
    data::standardize_columns(*split, data.deferred, release.means, release.stds);
  data.release = std::move(release);
}

// A recorded vocabulary release must be the one this recipe makes: the encoding relies on sorted,
// unique values, and a threshold or δ other than the recipe's would be accounted wrongly.
void check_recorded_vocabulary(const config::Recipe& recipe, const data::VocabularyRelease& release,
                               const std::vector<data::DeferredCategorical>& deferred) {
  const double probability = recipe.data.dp_vocabulary_delta_share() * recipe.privacy.delta();
  const double delta = data::vocabulary_delta(probability);
  const double threshold = data::vocabulary_threshold(
      release.noise_multiplier * release.sensitivity, deferred.size(), probability);
  auto differs = [](double a, double b) { return std::abs(a - b) > 1e-12 * std::abs(b); };
  if (release.noise_multiplier != config::stats_noise_multiplier(recipe) ||
      differs(release.delta, delta) || differs(release.threshold, threshold)) {
    throw_input_error(
        "the recorded DP vocabularies were released with noise multiplier {}, threshold {} and "
        "delta {}; this recipe (data.dp_stats_noise_multiplier = {}, "
        "data.dp_vocabulary_delta_share = {}, privacy.delta = {}) gives {}, {} and {}: restore "
        "the recipe the run started with",
        release.noise_multiplier, release.threshold, release.delta,
        config::stats_noise_multiplier(recipe), recipe.data.dp_vocabulary_delta_share(),
        recipe.privacy.delta(), config::stats_noise_multiplier(recipe), threshold, delta);
  }
  for (size_t j = 0; j < release.vocabularies.size(); ++j) {
    const auto& values = release.vocabularies[j];
    if (std::adjacent_find(values.begin(), values.end(), std::greater_equal<>()) != values.end()) {
      throw_input_error("the recorded DP vocabulary of column '{}' is not sorted and unique",
                        release.columns[j]);
    }
  }
}

// The DP vocabularies of the deferred categorical columns, likewise. After the standardization:
// one-hot encoding moves the features the standardization's indices point at.
void apply_vocabulary(const config::Recipe& recipe, RunData& data, uint64_t seed,
                      nlohmann::json& stored, bool fresh) {
  if (data.deferred_categories.empty()) return;
  if (recipe.privacy.adjacency() == privacy::Adjacency::kReplaceOne) {
    // A swapped example can both remove a value only it held and add one: the thresholds' δ
    // (data/dp_vocabulary.h) is derived for one of the two.
    std::vector<std::string> names;
    for (const auto& column : data.deferred_categories) names.push_back(column.name);
    throw_input_error(
        "categorical column(s) {} have no public categories in data.stats, so their "
        "vocabularies would be released with DP, which is accounted under privacy.adjacency = "
        "add_remove only; declare their categories in data.stats or use add_remove",
        fmt::join(names, ", "));
  }
  if (fresh) {
    const double probability = recipe.data.dp_vocabulary_delta_share() * recipe.privacy.delta();
    data.vocabulary =
        data::dp_vocabulary(data.train, {&data.test, &data.validation}, data.deferred_categories,
                            config::stats_noise_multiplier(recipe), probability, seed,
                            recipe.data.categorical_encoding());
    const auto& v = *data.vocabulary;
    stored["vocabulary"] = {{"noise_multiplier", v.noise_multiplier},
                            {"threshold", v.threshold},
                            {"delta", v.delta},
                            {"columns", v.columns},
                            {"vocabularies", v.vocabularies}};
    return;
  }
  const auto& record = stored.at("vocabulary");
  data::VocabularyRelease release;
  release.what = data::describe_vocabulary_release(data.deferred_categories.size());
  release.noise_multiplier = record.at("noise_multiplier").get<double>();
  release.sensitivity = std::sqrt(static_cast<double>(data.deferred_categories.size()));
  release.threshold = record.at("threshold").get<double>();
  release.delta = record.at("delta").get<double>();
  release.columns = record.at("columns").get<std::vector<std::string>>();
  release.vocabularies = record.at("vocabularies").get<std::vector<std::vector<std::string>>>();
  std::vector<std::string> names;
  for (const auto& column : data.deferred_categories) names.push_back(column.name);
  if (release.columns != names || release.vocabularies.size() != names.size()) {
    throw_input_error("the recorded DP vocabularies name columns {}, the recipe defers {}",
                      fmt::join(release.columns, ", "), fmt::join(names, ", "));
  }
  check_recorded_vocabulary(recipe, release, data.deferred_categories);
  for (auto* split : {&data.train, &data.test, &data.validation})
    data::encode_categories(*split, data.deferred_categories, release.vocabularies,
                            recipe.data.categorical_encoding());
  data.vocabulary = std::move(release);
}

}  // namespace

void apply_dp_statistics(const config::Recipe& recipe, RunData& data, uint64_t seed,
                         nlohmann::json& stored, ReleaseRecord record) {
  if (data.deferred.empty() && data.deferred_categories.empty() && data.unbounded.empty()) {
    // A resumed run whose statistics file changed must not drop a release it already paid for
    // (the record may hold the dataset size's release alone: plan_dataset_size).
    if (stored.is_object() && (stored.contains("digest") || stored.contains("vocabulary") ||
                               stored.contains("means") || stored.contains("bounds"))) {
      throw_input_error(
          "the run released DP statistics before training, but its recipe and data.stats now "
          "defer none; restore the statistics file it started with");
    }
    return;
  }
  const auto inputs = data.train.inputs.contiguous();
  const std::string digest = fmt::format(
      "{:016x}", fnv1a(std::string_view(static_cast<const char*>(inputs.data_ptr()),
                                        static_cast<size_t>(inputs.numel()) * sizeof(float))));
  const bool fresh = stored.is_null();
  if (fresh) {
    stored = {{"digest", digest}};
  } else if (record == ReleaseRecord::kFromCheckpoint &&
             (!stored.contains("digest") || stored["digest"] != digest)) {
    throw_input_error(
        "the training data differ from the data the run's DP statistics were released from; "
        "restore the original data file, or start a new run in another folder");
  }
  // Distinct streams of one key: the releases' noise is independent.
  apply_bounds(recipe, data, derive_seed(seed, 3), stored, fresh);
  apply_standardization(recipe, data, derive_seed(seed, 1), stored, fresh);
  apply_vocabulary(recipe, data, derive_seed(seed, 2), stored, fresh);
  if (data.encoding) {
    data::apply_releases(*data.encoding, data.bounds ? &*data.bounds : nullptr,
                         data.release ? &*data.release : nullptr,
                         data.vocabulary ? &*data.vocabulary : nullptr);
  }
}

train::BeforeTraining before_training(const RunData& data) {
  train::BeforeTraining before{.planning_size = data.planning_size};
  if (data.bounds) before.gaussian_releases.push_back(data.bounds->noise_multiplier);
  if (data.release) before.gaussian_releases.push_back(data.release->noise_multiplier);
  if (data.vocabulary) {
    before.gaussian_releases.push_back(data.vocabulary->noise_multiplier);
    before.release_delta += data.vocabulary->delta;
  }
  if (data.size_release) before.gaussian_releases.push_back(data.size_release->noise_multiplier);
  return before;
}

}  // namespace dpforge::run
