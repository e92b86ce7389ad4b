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

// The examples of `classes` (data.keep_classes), in the file's order. Which examples a class
// filter keeps is a per-example rule, so a neighbouring dataset differs in at most one of them.
data::Dataset only_classes(const data::Dataset& dataset, const std::vector<int64_t>& classes,
                           const char* split) {
  if (dataset.task == data::Task::kRegression) {
    throw_input_error("data.keep_classes = {} keeps classes; this is a regression task: remove it",
                      fmt::join(classes, ","));
  }
  const int64_t outputs = dataset.num_classes;
  if (classes.back() >= outputs) {
    throw_input_error("data.keep_classes: class {} is not one of the task's {} classes (0 to {})",
                      classes.back(), outputs, outputs - 1);
  }
  const auto wanted = torch::tensor(classes, torch::kLong).to(dataset.labels.device());
  const auto kept = torch::isin(dataset.labels.to(torch::kLong), wanted).nonzero().flatten();
  if (kept.numel() == 0) {
    throw_input_error("data.keep_classes = {} keeps no example of the {} split",
                      fmt::join(classes, ","), split);
  }
  return data::take(dataset, kept);
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
  options.defer_standardization = config::stats_noise_multiplier(recipe) > 0;
  options.defer_vocabulary = config::stats_noise_multiplier(recipe) > 0;
  options.defer_bounds = config::stats_noise_multiplier(recipe) > 0;
  options.layout = d.layout();
  options.scaling = config::resolved_scaling(recipe);
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
    data.unbounded = std::move(loaded.unbounded);
    data.encoding = std::move(loaded.encoding);
    for (const auto* columns : {&data.deferred, &data.unbounded}) {
      for (const auto& column : *columns)
        target_standardized |= column.of == data::StatisticOf::kTarget;
    }
    if (config::stats_noise_multiplier_given(recipe) &&
        config::stats_noise_multiplier(recipe) > 0 && data.deferred.empty() &&
        data.deferred_categories.empty() && data.unbounded.empty()) {
      throw_input_error(
          "data.dp_stats_noise_multiplier = {}: no statistic needs estimating. It estimates the "
          "range of numeric columns data.stats gives no min and max (data.scaling = minmax or "
          "standardize), with data.scaling = standardize the mean and std of columns (\"inputs\" "
          "for arrays, \"target\" for a regression target) it gives no mean and std, and the "
          "vocabulary of data.categorical columns without \"categories\"; set it to 0 or remove "
          "those public statistics",
          config::stats_noise_multiplier(recipe));
    }
    if (loaded.test) {
      data.train = std::move(loaded.train);
      data.test = std::move(*loaded.test);
    } else {
      std::tie(data.train, data.test) = split_off(
          loaded.train, config::test_fraction(recipe.data),
          derive_seed(static_cast<uint64_t>(recipe.data.split_seed()), 1), "data.test_fraction");
    }
  }
  if (const auto classes = config::kept_classes(recipe.data); !classes.empty()) {
    data.train = only_classes(data.train, classes, "training");
    data.test = only_classes(data.test, classes, "test");
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

}  // namespace dpforge::run
