// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/sources.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "dpforge/core/error.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/data/npy.h"
#include "src/data/raw_split.h"

namespace dpforge::data {
namespace detail {

bool has_public_scaling(Scaling scaling, const ColumnStats* stats) {
  if (scaling == Scaling::kNone) return true;
  return stats != nullptr &&
         (scaling == Scaling::kStandardize ? stats->mean && stats->std : stats->min && stats->max);
}

std::string scaling_needs(Scaling scaling) {
  switch (scaling) {
    case Scaling::kNone:
      return "";
    case Scaling::kStandardize:
      return "mean and std";
    case Scaling::kMinMax:
      return "min and max";
  }
  return "";
}

std::string scaling_entry(Scaling scaling) {
  switch (scaling) {
    case Scaling::kNone:
      return "";
    case Scaling::kStandardize:
      return "\"mean\": ..., \"std\": ...";
    case Scaling::kMinMax:
      return "\"min\": ..., \"max\": ...";
  }
  return "";
}

ColumnScaler column_scaler(Scaling scaling, const ColumnStats* stats, const std::string& entry,
                           const SourceOptions& options) {
  if (scaling == Scaling::kNone) return {};
  const bool standardize = scaling == Scaling::kStandardize;
  if (!has_public_scaling(scaling, stats)) {
    throw_input_error(
        "data.scaling = {} needs the public {} of {}: give {{{}}} as \"{}\" in {} (data.stats); "
        "statistics of the private training data would be a release",
        kScalingNames.name(scaling), scaling_needs(scaling), entry, scaling_entry(scaling), entry,
        options.stats != nullptr ? options.stats->source : "a statistics file");
  }
  if (standardize) {
    if (!(*stats->std > 0))
      throw_input_error("{}: {}.std must be > 0", options.stats->source, entry);
    return {*stats->mean, *stats->std, false};
  }
  if (!(*stats->max > *stats->min)) {
    throw_input_error("{}: {}.max must be > {}.min", options.stats->source, entry, entry);
  }
  return {*stats->min, *stats->max - *stats->min, true};
}

}  // namespace detail

namespace {

using detail::RawSplit;
using detail::resolve_task;
using detail::ResolvedTask;

ColumnStats column_stats(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) throw_input_error("{}: expected an object", where);
  ColumnStats stats;
  for (const auto& [key, value] : json.items()) {
    if (key == "categories") {
      if (!value.is_array()) throw_input_error("{}.categories: expected a list of names", where);
      std::vector<std::string> names;
      for (const auto& name : value)
        names.push_back(name.is_string() ? name.get<std::string>() : name.dump());
      stats.categories = std::move(names);
      continue;
    }
    std::optional<double>* field = key == "mean"  ? &stats.mean
                                   : key == "std" ? &stats.std
                                   : key == "min" ? &stats.min
                                   : key == "max" ? &stats.max
                                                  : nullptr;
    if (field == nullptr) {
      throw_input_error("{}: unknown key '{}' (allowed: mean, std, min, max, categories)", where,
                        key);
    }
    if (!value.is_number()) throw_input_error("{}.{}: expected a number", where, key);
    *field = value.get<double>();
  }
  // Refused here, naming the key, even for a column the recipe does not scale (found by
  // fuzz/stats_fuzzer.cpp: a std of 0 or a max below the min passed until used).
  if (stats.std && !(*stats.std > 0)) throw_input_error("{}.std: must be > 0", where);
  if (stats.min && stats.max && !(*stats.max > *stats.min))
    throw_input_error("{}.max: must be > its min ({} <= {})", where, *stats.max, *stats.min);
  return stats;
}

}  // namespace

PublicStats read_public_stats(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw_input_error("{}: data.stats file not found", path.string());
  const std::string text((std::istreambuf_iterator<char>(file)), {});
  return parse_public_stats(text, path.string());
}

PublicStats parse_public_stats(std::string_view text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: data.stats is not valid JSON ({})", source, error.what());
  }
  PublicStats stats;
  stats.source = source;
  if (!json.is_object()) throw_input_error("{}: expected a JSON object", source);
  for (const auto& [key, value] : json.items()) {
    const std::string where = source + ": " + key;
    if (key == "columns") {
      if (!value.is_object()) throw_input_error("{}: expected an object of columns", where);
      for (const auto& [column, entry] : value.items())
        stats.columns[column] = column_stats(entry, where + "." + column);
    } else if (key == "inputs") {
      stats.inputs = column_stats(value, where);
    } else if (key == "target") {
      stats.target = column_stats(value, where);
    } else if (key == "about") {
      // Where the numbers come from, for whoever reviews the file: not read.
    } else {
      throw_input_error("{}: unknown key (allowed: about, columns, inputs, target)", where);
    }
  }
  return stats;
}

const ColumnStats* target_stats(const PublicStats& stats, const std::string& label) {
  if (const auto column = stats.columns.find(label); column != stats.columns.end())
    return &column->second;
  return stats.target ? &*stats.target : nullptr;
}

namespace {

std::string join_files(const std::vector<std::string>& files) {
  return fmt::format("{}", fmt::join(files, ","));
}

RawSplit read_split(const SourceOptions& options, const std::vector<std::string>& files,
                    const RawSplit* train = nullptr) {
  const std::string name = join_files(files);
  const size_t wanted = options.format == Format::kCsv || options.format == Format::kNpz ? 1 : 2;
  if (files.size() != wanted) {
    throw_input_error(
        "data.train / data.test = '{}': format {} takes {}", name,
        kFormatNames.name(options.format),
        wanted == 1 ? "one file" : "two files, inputs then labels, separated by a comma");
  }
  switch (options.format) {
    case Format::kCsv:
      return detail::read_csv_split(files[0], options, train);
    case Format::kNpz: {
      auto arrays = read_npz(files[0]);
      if (arrays.count("x") == 0 || arrays.count("y") == 0) {
        std::vector<std::string> found;
        for (const auto& [key, value] : arrays) found.push_back(key);
        throw_input_error(
            "{}: an NPZ for dpforge holds arrays named x (inputs) and y (labels); "
            "this one holds: {} (np.savez(path, x=inputs, y=labels))",
            files[0], found.empty() ? "nothing" : fmt::format("{}", fmt::join(found, ", ")));
      }
      return detail::array_split(arrays.at("x"), arrays.at("y"), options, files[0]);
    }
    case Format::kNpy:
      return detail::array_split(read_npy(files[0]), read_npy(files[1]), options, name);
    case Format::kIdx: {
      const auto images = read_idx_gz(files[0], 3);
      const auto labels = read_idx_gz(files[1], 1);
      const auto x =
          torch::from_blob(const_cast<uint8_t*>(images.bytes.data()), images.dims, torch::kUInt8);
      const auto y =
          torch::from_blob(const_cast<uint8_t*>(labels.bytes.data()), labels.dims, torch::kUInt8);
      return detail::array_split(x.clone(), y.clone(), options, name);
    }
    case Format::kAuto:
    case Format::kFashionMnist:
      break;
  }
  throw_input_error("data.format = fashion-mnist reads data.root, not data.train");
}

Dataset finish(RawSplit split, const ResolvedTask& task, const SourceOptions& options) {
  Dataset dataset;
  dataset.task = task.task;
  dataset.num_classes = task.classes;
  if (task.task != Task::kRegression) {
    const auto bad = split.targets.ne(split.targets.round())
                         .logical_or(split.targets.lt(0))
                         .logical_or(split.targets.ge(static_cast<double>(task.classes)));
    if (bad.any().item<bool>()) {
      const int64_t at = bad.nonzero()[0].item<int64_t>();
      // A CSV row is named by its line in the file; an array's by its index.
      const std::string where = at < static_cast<int64_t>(split.lines.size())
                                    ? fmt::format("line {}", split.lines[at])
                                    : fmt::format("example {}", at);
      throw_input_error(
          "{}: {} has label {:g}, outside the {} classes 0..{} of this {} "
          "task (data.classes, train.task)",
          split.name, where, split.targets[at].item<double>(), task.classes, task.classes - 1,
          to_string(task.task));
    }
    dataset.labels = split.targets.to(torch::kLong);
  } else {
    auto targets = split.targets;
    const ColumnStats* stats =
        options.stats != nullptr ? target_stats(*options.stats, options.label) : nullptr;
    // A regression target is standardized when the public statistics give its mean and std;
    // metrics undo it.
    if (stats != nullptr && stats->mean && stats->std) {
      if (!(*stats->std > 0))
        throw_input_error("{}: the target's std must be > 0", options.stats->source);
      targets = (targets - *stats->mean) / *stats->std;
      dataset.target_scale = *stats->std;
    }
    dataset.labels = targets.to(torch::kFloat32);
  }
  dataset.inputs = std::move(split.inputs);
  dataset.category_codes = std::move(split.category_codes);
  return dataset;
}

}  // namespace

LoadedSource load_source(const SourceOptions& options, const std::vector<std::string>& train_files,
                         const std::vector<std::string>& test_files) {
  auto train = read_split(options, train_files);
  std::optional<RawSplit> test;
  if (!test_files.empty()) {
    test = read_split(options, test_files, &train);
    if (test->inputs.sizes().slice(1) != train.inputs.sizes().slice(1)) {
      throw_input_error("{}: examples of shape [{}], the training data's are [{}]", test->name,
                        fmt::join(test->inputs.sizes().slice(1), ", "),
                        fmt::join(train.inputs.sizes().slice(1), ", "));
    }
  }
  LoadedSource loaded;
  const auto task = resolve_task(options, train, loaded.notes);
  loaded.feature_names = train.feature_names;
  loaded.deferred = train.deferred;
  loaded.unbounded = train.unbounded;
  // A regression target with a public range but no mean and std: standardized by the DP release.
  const auto* target =
      options.stats != nullptr ? target_stats(*options.stats, options.label) : nullptr;
  if (options.defer_standardization && task.task == Task::kRegression && target != nullptr &&
      target->min && target->max && !(target->mean && target->std)) {
    if (!(*target->max > *target->min))
      throw_input_error("{}: the target's max must be > its min", options.stats->source);
    loaded.deferred.push_back({0, options.label.empty() ? "(target)" : options.label, *target->min,
                               *target->max, StatisticOf::kTarget});
  } else if (options.defer_bounds && options.scaling != Scaling::kNone &&
             task.task == Task::kRegression &&
             !(target != nullptr &&
               ((target->min && target->max) || (target->mean && target->std)))) {
    // Nor a range: its range is released first (run::apply_dp_statistics), then under standardize
    // its mean and std over it; under minmax it is scaled by the range's centre and half-width.
    loaded.unbounded.push_back(
        {0, options.label.empty() ? "(target)" : options.label, 0, 0, StatisticOf::kTarget});
  }
  // The test file extended the training file's code book: its values are the complete list.
  loaded.deferred_categories = test ? test->deferred_categories : train.deferred_categories;
  loaded.dropped_rows = train.dropped + (test ? test->dropped : 0);
  if (loaded.dropped_rows > 0) {
    loaded.notes.push_back(fmt::format("data.missing = drop: dropped {} rows with missing values",
                                       loaded.dropped_rows));
  }
  if (!train.header.empty()) {  // a table
    loaded.encoding = train.encoding;
    if (task.task == Task::kRegression && target != nullptr && target->mean && target->std) {
      loaded.encoding->target_mean = *target->mean;
      loaded.encoding->target_std = *target->std;
    }
  }
  loaded.train = finish(std::move(train), task, options);
  if (test) loaded.test = finish(std::move(*test), task, options);
  return loaded;
}

}  // namespace dpforge::data
