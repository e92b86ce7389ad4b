// SPDX-License-Identifier: Apache-2.0
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string_view>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/core/text.h"
#include "dpforge/data/dp_vocabulary.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/run/run.h"

namespace dpforge::run {
namespace {

data::Dataset subset_of_train(const config::Recipe& recipe, data::Dataset dataset) {
  const int64_t subset = recipe.data.train_subset();
  if (subset == 0) return dataset;
  return recipe.data.subset() == config::Subset::kRandom
             ? data::take_random(dataset, subset, static_cast<uint64_t>(recipe.data.subset_seed()))
             : data::take_first(dataset, subset);
}

// A seeded split of `dataset`: `fraction` of its examples (at least one, never all) go to the
// second part; both keep the file's order.
std::pair<data::Dataset, data::Dataset> split_off(const data::Dataset& dataset, double fraction,
                                                  uint64_t seed, const char* key) {
  const int64_t n = dataset.size();
  const auto held = static_cast<int64_t>(std::llround(fraction * static_cast<double>(n)));
  if (held < 1 || held >= n) {
    throw_input_error(
        "{} = {} of {} examples holds out {}: it must leave at least one example on "
        "each side",
        key, fraction, n, held);
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto order = torch::randperm(n, generator, torch::kLong);
  const auto kept = std::get<0>(order.slice(0, held).sort());
  const auto out = std::get<0>(order.slice(0, 0, held).sort());
  return {data::take(dataset, kept), data::take(dataset, out)};
}

data::SourceOptions source_options(const config::Recipe& recipe, const data::PublicStats* stats) {
  const auto& d = recipe.data;
  data::SourceOptions options;
  options.format = config::resolved_format(d);
  options.label = d.label();
  options.features = split_list(d.features());
  options.categorical = split_list(d.categorical());
  options.categorical_encoding = d.categorical_encoding();
  options.label_values = split_list(d.label_values());
  options.classes = d.classes();
  options.task = recipe.train.task();
  options.private_training = recipe.privacy.enabled();
  options.defer_standardization = recipe.data.dp_stats_noise_multiplier() > 0;
  options.defer_vocabulary = recipe.data.dp_stats_noise_multiplier() > 0;
  options.layout = d.layout();
  options.scaling = d.scaling();
  options.stats = stats;
  options.missing = d.missing();
  options.fill_value = d.fill_value();
  return options;
}

// Keys that the task decides, checked as soon as the task is known (before any training).
void check_task_options(const config::Recipe& recipe, const data::Dataset& train,
                        bool target_standardized) {
  const auto task = train.task;
  if (recipe.train.label_smoothing() > 0 && task != data::Task::kMulticlass) {
    throw_input_error(
        "train.label_smoothing = {} smooths a multiclass cross-entropy; this is a "
        "{} task: set it to 0",
        recipe.train.label_smoothing(), data::to_string(task));
  }
  if (task == data::Task::kRegression && recipe.audit.input_canaries() > 0) {
    throw_input_error(
        "audit.input_canaries = {} flips class labels; a regression task has none: "
        "set it to 0 (the white-box audit and the attacks still run)",
        recipe.audit.input_canaries());
  }
  if (task == data::Task::kRegression && recipe.audit.shadow_models() > 0 && !target_standardized) {
    throw_input_error(
        "audit.shadow_models = {} on a regression task needs a standardized target: the shadow "
        "attacks read a Gaussian likelihood of the error, which underflows in raw units; give the "
        "target's public mean and std in data.stats (\"target\": {{\"mean\": ..., \"std\": ...}})",
        recipe.audit.shadow_models());
  }
  if (task == data::Task::kRegression && recipe.train.early_stopping_patience() > 0) {
    throw_input_error(
        "train.early_stopping_patience watches validation accuracy, which a "
        "regression task does not have: set it to 0");
  }
}

}  // namespace

RunData load_run_data(const config::Recipe& recipe) {
  RunData data;
  bool target_standardized = false;
  if (config::resolved_format(recipe.data) == data::Format::kFashionMnist) {
    data.train = data::load_fashion_mnist(data_root(recipe), data::Split::kTrain);
    data.test = data::load_fashion_mnist(data_root(recipe), data::Split::kTest);
  } else {
    std::optional<data::PublicStats> stats;
    if (!recipe.data.stats().empty()) stats = data::read_public_stats(recipe.data.stats());
    if (stats) {
      const auto* target = data::target_stats(*stats, recipe.data.label());
      target_standardized = target != nullptr && target->mean && target->std;
    }
    auto loaded =
        data::load_source(source_options(recipe, stats ? &*stats : nullptr),
                          split_list(recipe.data.train()), split_list(recipe.data.test()));
    data.notes = std::move(loaded.notes);
    data.deferred = std::move(loaded.deferred);
    data.deferred_categories = std::move(loaded.deferred_categories);
    data.encoding = std::move(loaded.encoding);
    for (const auto& column : data.deferred)
      target_standardized |= column.of == data::StatisticOf::kTarget;
    if (recipe.data.dp_stats_noise_multiplier() > 0 && data.deferred.empty() &&
        data.deferred_categories.empty()) {
      throw_input_error(
          "data.dp_stats_noise_multiplier = {}: no statistic needs estimating. It estimates, "
          "with data.scaling = standardize, the mean and std of columns (\"inputs\" for arrays, "
          "\"target\" for a regression target) whose data.stats entry gives min and max but no "
          "mean and std, and the vocabulary of data.categorical columns without \"categories\"; "
          "set it to 0 or remove those public statistics",
          recipe.data.dp_stats_noise_multiplier());
    }
    if (loaded.test) {
      data.train = std::move(loaded.train);
      data.test = std::move(*loaded.test);
    } else {
      std::tie(data.train, data.test) = split_off(
          loaded.train, recipe.data.test_fraction(),
          derive_seed(static_cast<uint64_t>(recipe.data.split_seed()), 1), "data.test_fraction");
    }
  }
  if (recipe.data.test_subset() > 0)
    data.test = data::take_first(data.test, recipe.data.test_subset());
  data.train = subset_of_train(recipe, std::move(data.train));
  if (const double fraction = recipe.data.validation_fraction(); fraction > 0) {
    std::tie(data.train, data.validation) = split_off(
        data.train, fraction, derive_seed(static_cast<uint64_t>(recipe.data.split_seed()), 2),
        "data.validation_fraction");
  }
  if (const int64_t held = recipe.data.validation_size(); held > 0) {
    if (held >= data.train.size()) {
      throw_input_error(
          "data.validation_size = {} leaves no training examples (the training split has {})", held,
          data.train.size());
    }
    // The last `held` examples: never trained on, so DP makes no promise about them.
    const int64_t kept = data.train.size() - held;
    const auto& train = data.train;
    data.validation = train.with(train.inputs.slice(0, kept), train.labels.slice(0, kept));
    data.train = train.with(train.inputs.slice(0, 0, kept), train.labels.slice(0, 0, kept));
  }
  check_task_options(recipe, data.train, target_standardized);
  return data;
}

namespace {

// The standardizing statistics of the deferred numeric columns: released now, or read back from
// `stored` (a resumed run's, or the audited run's report).
void apply_standardization(const config::Recipe& recipe, RunData& data, uint64_t seed,
                           nlohmann::json& stored, bool fresh) {
  if (data.deferred.empty()) return;
  if (fresh) {
    data.release = data::dp_standardize(data.train, {&data.test, &data.validation}, data.deferred,
                                        recipe.data.dp_stats_noise_multiplier(), seed);
    stored["noise_multiplier"] = data.release->noise_multiplier;
    stored["means"] = data.release->means;
    stored["stds"] = data.release->stds;
    return;
  }
  data::GaussianRelease release;
  release.noise_multiplier = stored.at("noise_multiplier").get<double>();
  if (release.noise_multiplier != recipe.data.dp_stats_noise_multiplier()) {
    throw_input_error(
        "the recorded DP statistics were released with noise multiplier {}, this recipe's "
        "data.dp_stats_noise_multiplier is {}: restore the recipe the run started with",
        release.noise_multiplier, recipe.data.dp_stats_noise_multiplier());
  }
  release.sensitivity = data::release_sensitivity(data.deferred.size());
  release.what = data::describe_release(data.deferred.size());
  for (const auto& column : data.deferred) release.columns.push_back(column.name);
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
  if (release.noise_multiplier != recipe.data.dp_stats_noise_multiplier() ||
      differs(release.delta, delta) || differs(release.threshold, threshold)) {
    throw_input_error(
        "the recorded DP vocabularies were released with noise multiplier {}, threshold {} and "
        "delta {}; this recipe (data.dp_stats_noise_multiplier = {}, "
        "data.dp_vocabulary_delta_share = {}, privacy.delta = {}) gives {}, {} and {}: restore "
        "the recipe the run started with",
        release.noise_multiplier, release.threshold, release.delta,
        recipe.data.dp_stats_noise_multiplier(), recipe.data.dp_vocabulary_delta_share(),
        recipe.privacy.delta(), recipe.data.dp_stats_noise_multiplier(), threshold, delta);
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
                            recipe.data.dp_stats_noise_multiplier(), probability, seed,
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
  if (data.deferred.empty() && data.deferred_categories.empty()) {
    // A resumed run whose statistics file changed must not drop a release it already paid for
    // (the record may hold the dataset size's release alone: plan_dataset_size).
    if (stored.is_object() &&
        (stored.contains("digest") || stored.contains("vocabulary") || stored.contains("means"))) {
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
  // Distinct streams of one key: the two releases' noise is independent.
  apply_standardization(recipe, data, derive_seed(seed, 1), stored, fresh);
  apply_vocabulary(recipe, data, derive_seed(seed, 2), stored, fresh);
  if (data.encoding) {
    data::apply_releases(*data.encoding, data.release ? &*data.release : nullptr,
                         data.vocabulary ? &*data.vocabulary : nullptr);
  }
}

std::filesystem::path data_root(const config::Recipe& recipe) {
  return recipe.data.root().empty() ? data::default_fashion_mnist_root()
                                    : std::filesystem::path(recipe.data.root());
}

std::string data_source(const config::Recipe& recipe) {
  if (config::resolved_format(recipe.data) == data::Format::kFashionMnist)
    return data_root(recipe).string();
  return recipe.data.test().empty() ? recipe.data.train()
                                    : recipe.data.train() + " | " + recipe.data.test();
}

train::BeforeTraining before_training(const RunData& data) {
  train::BeforeTraining before{.planning_size = data.planning_size};
  if (data.release) before.gaussian_releases.push_back(data.release->noise_multiplier);
  if (data.vocabulary) {
    before.gaussian_releases.push_back(data.vocabulary->noise_multiplier);
    before.release_delta += data.vocabulary->delta;
  }
  if (data.size_release) before.gaussian_releases.push_back(data.size_release->noise_multiplier);
  return before;
}

}  // namespace dpforge::run
