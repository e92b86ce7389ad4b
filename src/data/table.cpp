// SPDX-License-Identifier: Apache-2.0
// CSV tables → examples, one row at a time (the text is never held whole).
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <unordered_map>

#include "dpforge/core/error.h"
#include "dpforge/data/column_look.h"
#include "dpforge/data/csv.h"
#include "src/data/raw_split.h"

namespace dpforge::data::detail {
namespace {

// The codes of the deferred categorical columns: each value's index in its column's `values`,
// new values appended as the rows show them. Codes are exact in float32 up to 2^24 values.
class CodeBook {
 public:
  explicit CodeBook(std::vector<DeferredCategorical>& columns) : columns_(columns) {
    for (const auto& column : columns_) {
      auto& index = index_.emplace_back();
      for (size_t code = 0; code < column.values.size(); ++code)
        index.emplace(column.values[code], code);
    }
  }
  float code(size_t column, const std::string& value, const CsvReader& csv) {
    auto& values = columns_[column].values;
    const auto [found, added] = index_[column].emplace(value, values.size());
    if (added) {
      if (values.size() >= kMaxValues) {
        throw_input_error(
            "{}: line {}, column '{}': over {} distinct values; that is not a categorical "
            "column (remove it from data.categorical)",
            csv.name(), csv.line(), columns_[column].name, kMaxValues);
      }
      values.push_back(value);
    }
    return static_cast<float>(found->second);
  }

 private:
  static constexpr size_t kMaxValues = size_t{1} << 24;
  std::vector<DeferredCategorical>& columns_;
  std::vector<std::unordered_map<std::string, size_t>> index_;
};

// How one column of the file becomes features: its encoding, or a placeholder for one that waits
// for a DP release (raw numbers to standardize, raw codes to encode over a vocabulary).
struct FeatureColumn {
  size_t index = 0;  // in the file's header
  ColumnEncoding encoding;
  bool coded = false;        // categorical, vocabulary deferred: one raw-code feature
  bool deferred = false;     // standardized later with DP statistics
  bool unbounded = false;    // scaled later over a DP-released range
  double low = 0, high = 0;  // deferred: the public range
};

// A feature column the statistics file leaves without what it needs, and the entry to add.
struct MissingStatistics {
  size_t index = 0;  // in the header
  std::string problem, entry;
  bool numeric = false;  // read as numbers (not declared categorical)
};

// How column `name` becomes features, or (nullopt, `missing` filled in) what its statistics lack.
std::optional<FeatureColumn> plan_column(const std::string& name, size_t index,
                                         const SourceOptions& options, MissingStatistics& missing) {
  FeatureColumn column;
  column.index = index;
  auto& encoding = column.encoding;
  encoding.name = name;
  const auto* stats = options.stats != nullptr && options.stats->columns.count(name) > 0
                          ? &options.stats->columns.at(name)
                          : nullptr;
  const bool categorical = std::find(options.categorical.begin(), options.categorical.end(),
                                     name) != options.categorical.end();
  const auto category_kind = options.categorical_encoding == CategoricalEncoding::kEmbedding
                                 ? ColumnEncoding::Kind::kCode
                                 : ColumnEncoding::Kind::kOneHot;
  if (categorical && options.defer_vocabulary && (stats == nullptr || !stats->categories)) {
    column.coded = true;  // raw codes now; a DP vocabulary after the split
    encoding.kind = category_kind;
    encoding.outside_is_error = false;
  } else if (categorical) {
    if (stats == nullptr || !stats->categories) {
      missing = {index, fmt::format("categorical column '{}' has no public vocabulary", name),
                 fmt::format("\"{}\": {{\"categories\": [...]}}", name), false};
      return std::nullopt;
    }
    encoding.kind = category_kind;
    encoding.categories = *stats->categories;
    if (options.missing == Missing::kFill) encoding.categories.push_back(kMissingCategory);
  } else if (options.defer_standardization && options.scaling == Scaling::kStandardize &&
             stats != nullptr && stats->min && stats->max && !(stats->mean && stats->std)) {
    if (!(*stats->max > *stats->min)) {
      throw_input_error("{}: columns.{}.max must be > columns.{}.min", options.stats->source, name,
                        name);
    }
    column.deferred = true;  // raw now; standardized with DP statistics after the split
    column.low = *stats->min;
    column.high = *stats->max;
  } else if (options.defer_bounds && !has_public_scaling(options.scaling, stats) &&
             !(stats != nullptr && stats->min && stats->max)) {
    column.unbounded = true;  // raw now; a DP range (and DP statistics) after the split
  } else if (!has_public_scaling(options.scaling, stats)) {
    missing = {
        index,
        fmt::format("data.scaling = {} needs the public {} of columns.{}",
                    kScalingNames.name(options.scaling), scaling_needs(options.scaling), name),
        fmt::format("\"{}\": {{{}}}", name, scaling_entry(options.scaling)), true};
    return std::nullopt;
  } else {
    encoding.scaler = column_scaler(options.scaling, stats, "columns." + name, options);
  }
  return column;
}

// Every feature column's encoding; the columns whose statistics are missing are listed in
// `missing` instead (all of them: one error per run of the command would make the user edit the
// file N times).
std::vector<FeatureColumn> plan_features(const std::vector<std::string>& header,
                                         const SourceOptions& options, const std::string& file,
                                         std::vector<MissingStatistics>& missing) {
  auto position = [&](const std::string& column, const char* key) {
    const auto found = std::find(header.begin(), header.end(), column);
    if (found == header.end()) {
      throw_input_error("{}: {} names column '{}', which the header does not have (columns: {})",
                        file, key, column, fmt::join(header, ", "));
    }
    return static_cast<size_t>(found - header.begin());
  };
  if (options.label.empty()) {
    throw_input_error("{}: data.label must name the label column (columns: {})", file,
                      fmt::join(header, ", "));
  }
  const size_t label = position(options.label, "data.label");
  for (const auto& column : options.categorical) position(column, "data.categorical");
  std::vector<std::string> names = options.features;
  if (names.empty()) {
    for (size_t c = 0; c < header.size(); ++c)
      if (c != label) names.push_back(header[c]);
  }
  std::vector<FeatureColumn> plan;
  for (const auto& name : names) {
    const size_t index = position(name, "data.features");
    if (index == label)
      throw_input_error("{}: data.features lists the label column '{}'", file, name);
    MissingStatistics lack;
    if (auto column = plan_column(name, index, options, lack)) {
      plan.push_back(std::move(*column));
    } else {
      missing.push_back(std::move(lack));
    }
  }
  return plan;
}

// The error for columns without their statistics. A column read as numbers that holds text asks to
// be declared categorical, not to be given a range: the rest of the file is read to tell (the run
// stops here, so reading the values to word its error releases nothing).
[[noreturn]] void refuse_missing_statistics(CsvReader& csv,
                                            const std::vector<MissingStatistics>& missing,
                                            const SourceOptions& options) {
  std::vector<ColumnLook> looks;
  for (const auto& lack : missing)
    if (lack.numeric && looks.empty()) looks = look_at_columns(csv);
  std::vector<std::string> problems, entries;
  for (const auto& lack : missing) {
    const auto* look = lack.numeric ? &looks[lack.index] : nullptr;
    if (look != nullptr && !look->numeric) {
      problems.push_back(fmt::format(
          "column '{}' is text ('{}' on line {}): declare it categorical (data.categorical, its "
          "categories in data.stats) or leave it out (data.features)",
          look->name, look->first_text, look->first_text_line));
      continue;
    }
    problems.push_back(lack.problem);
    entries.push_back(lack.entry);
  }
  const std::string add =
      entries.empty()
          ? ""
          : fmt::format(
                " Statistics or vocabularies read off the private training data would be a "
                "release{}; add to \"columns\" in {} (data.stats; `dpforge stats-template {}` "
                "writes a skeleton of every column):\n  {}",
                options.private_training
                    ? " (data.dp_stats_noise_multiplier releases them under DP, accounted)"
                    : "",
                options.stats != nullptr ? options.stats->source : "a statistics file", csv.name(),
                fmt::join(entries, ",\n  "));
  throw_input_error("{}: {} column{} lack{} public statistics: {}.{}", csv.name(), problems.size(),
                    problems.size() == 1 ? "" : "s", problems.size() == 1 ? "s" : "",
                    fmt::join(problems, "; "), add);
}

double label_value(const std::string& field, const SourceOptions& options, const CsvReader& csv) {
  if (!options.label_values.empty()) {
    const auto found = std::find(options.label_values.begin(), options.label_values.end(), field);
    if (found == options.label_values.end()) {
      throw_input_error("{}: line {}, column '{}': label '{}' is not one of data.label_values ({})",
                        csv.name(), csv.line(), options.label, field,
                        fmt::join(options.label_values, ", "));
    }
    return static_cast<double>(found - options.label_values.begin());
  }
  const auto value = parse_number(field);
  if (!value || !std::isfinite(*value)) {
    throw_input_error(
        "{}: line {}, column '{}': label '{}' is not a finite number; for text labels list the "
        "classes in data.label_values (their order gives the class numbers)",
        csv.name(), csv.line(), options.label, field);
  }
  return *value;
}

// Rows gathered in fixed-size blocks and joined once at the end: the peak is twice the features'
// size, never the text's, and no block is reallocated while it grows.
class RowBlocks {
 public:
  explicit RowBlocks(int64_t width)
      : width_(width),
        rows_per_block_(std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(1, width))) {}
  float* next_row() {
    if (blocks_.empty() || used_ == rows_per_block_) {
      blocks_.push_back(torch::empty({rows_per_block_, width_}, torch::kFloat32));
      used_ = 0;
    }
    return blocks_.back().data_ptr<float>() + (used_++) * width_;
  }
  torch::Tensor join() {
    if (blocks_.empty()) return torch::empty({0, width_}, torch::kFloat32);
    blocks_.back() = blocks_.back().slice(0, 0, used_);
    auto joined = torch::cat(blocks_);
    blocks_.clear();
    return joined;
  }

 private:
  int64_t width_, rows_per_block_, used_ = 0;
  std::vector<torch::Tensor> blocks_;
};

// The split's encoding (placeholders for the deferred columns), feature names and the lists of
// deferred and embedded columns, in feature order.
void describe_columns(const std::vector<FeatureColumn>& plan, const SourceOptions& options,
                      RawSplit& split) {
  split.encoding.label = options.label;
  split.encoding.label_values = options.label_values;
  split.encoding.missing = options.missing;
  split.encoding.fill_value = options.fill_value;
  for (const auto& column : plan) {
    const auto feature = static_cast<int64_t>(split.feature_names.size());
    const auto& name = column.encoding.name;
    if (column.deferred) split.deferred.push_back({feature, name, column.low, column.high});
    if (column.unbounded) split.unbounded.push_back({feature, name, 0, 0});
    if (column.coded) split.deferred_categories.push_back({feature, name, {}});
    if (!column.coded && column.encoding.kind == ColumnEncoding::Kind::kCode) {
      split.category_codes.push_back(
          {feature, static_cast<int64_t>(column.encoding.categories.size()), name});
    }
    split.encoding.columns.push_back(column.encoding);
    if (column.coded) {
      split.feature_names.push_back(name);  // one raw-code feature until the release
    } else {
      append_feature_names(column.encoding, split.feature_names);
    }
  }
}

}  // namespace

RawSplit read_csv_split(const std::filesystem::path& path, const SourceOptions& options,
                        const RawSplit* train) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw_input_error("{}: CSV file not found (paths are relative to the current folder)",
                      path.string());
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) throw_input_error("{}: cannot open the CSV file", path.string());
  CsvReader csv(file, path.string());
  if (train != nullptr && csv.header() != train->header) {
    throw_input_error(
        "{}: its columns ({}) differ from the training file {} ({}); both need the "
        "same header",
        path.string(), fmt::join(csv.header(), ", "), train->name, fmt::join(train->header, ", "));
  }
  std::vector<MissingStatistics> missing;
  const auto plan = plan_features(csv.header(), options, path.string(), missing);
  if (!missing.empty()) refuse_missing_statistics(csv, missing, options);
  const size_t label = static_cast<size_t>(
      std::find(csv.header().begin(), csv.header().end(), options.label) - csv.header().begin());
  RawSplit split;
  split.name = path.string();
  split.header = csv.header();
  describe_columns(plan, options, split);
  // A test file continues the training file's codes, so one code means one value in both.
  if (train != nullptr) split.deferred_categories = train->deferred_categories;
  CodeBook codes(split.deferred_categories);
  const size_t width = split.feature_names.size();
  RowBlocks features(static_cast<int64_t>(width));
  std::vector<float> row_features(width);
  std::vector<double> targets;
  std::vector<std::string> row;
  while (csv.next(row)) {
    bool drop = false;
    if (is_missing(row[label])) {
      if (options.missing != Missing::kDrop) {
        throw_input_error(
            "{}: line {}, column '{}': the label is missing (rows without a label "
            "can only be dropped: data.missing = drop)",
            csv.name(), csv.line(), options.label);
      }
      drop = true;
    }
    size_t at = 0, coded_column = 0;
    for (const auto& column : plan) {
      if (drop) break;
      const auto& field = row[column.index];
      const bool missing = is_missing(field);
      if (missing && options.missing == Missing::kDrop) {
        drop = true;
        break;
      }
      if (!column.coded) {
        at += encode_field(column.encoding, field, missing, split.encoding, csv,
                           row_features.data() + at);
        continue;
      }
      check_field_rules(column.encoding, field, missing, split.encoding, csv);
      row_features[at++] = codes.code(coded_column++, missing ? kMissingCategory : field, csv);
    }
    if (drop) {
      ++split.dropped;
      continue;
    }
    targets.push_back(label_value(row[label], options, csv));
    split.lines.push_back(csv.line());
    std::copy(row_features.begin(), row_features.end(), features.next_row());
  }
  const auto n = static_cast<int64_t>(targets.size());
  if (n == 0) {
    throw_input_error("{}: no examples (the header is the only row{})", csv.name(),
                      split.dropped > 0 ? fmt::format(" left after dropping {} rows with missing "
                                                      "values",
                                                      split.dropped)
                                        : "");
  }
  split.inputs = features.join();
  split.targets = torch::from_blob(targets.data(), {n}, torch::kFloat64).clone();
  return split;
}

}  // namespace dpforge::data::detail
