// SPDX-License-Identifier: Apache-2.0
// A user's own data: CSV tables, NumPy arrays and IDX pairs, turned into a Dataset without
// computing anything from the private examples but what each example maps to on its own.
//
// Statistics of the training data (means, ranges, category vocabularies) are releases, so nothing
// here estimates them: scaling and encoding use `PublicStats` (a JSON file the user vouches is
// public: a data dictionary, a published table), and a value they do not cover is an error naming
// the column. Missing values are handled only by an explicit rule. The task and the class count may
// be inferred from the labels of a non-private run (and said); a private run must give them, since
// they shape the released model (its loss and output layer).
//
// Example:
//   data::SourceOptions options;
//   options.format = data::Format::kCsv;
//   options.label = "diagnosis";
//   const auto loaded = data::load_source(options, {"patients.csv"}, {});
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dpforge/core/enum_names.h"
#include "dpforge/data/dataset.h"
#include "dpforge/data/dp_stats.h"
#include "dpforge/data/dp_vocabulary.h"
#include "dpforge/data/table_encoding.h"

namespace dpforge::data {

/// kAuto: config::resolved_format decides from the recipe's data.train.
enum class Format { kAuto, kFashionMnist, kIdx, kCsv, kNpy, kNpz };
inline constexpr EnumNames<Format, 6> kFormatNames{{{{Format::kAuto, "auto"},
                                                     {Format::kFashionMnist, "fashion-mnist"},
                                                     {Format::kIdx, "idx"},
                                                     {Format::kCsv, "csv"},
                                                     {Format::kNpy, "npy"},
                                                     {Format::kNpz, "npz"}}}};
enum class Layout { kNchw, kNhwc };
inline constexpr EnumNames<Layout, 2> kLayoutNames{
    {{{Layout::kNchw, "nchw"}, {Layout::kNhwc, "nhwc"}}}};
enum class Scaling { kNone, kStandardize, kMinMax };
inline constexpr EnumNames<Scaling, 3> kScalingNames{{{{Scaling::kNone, "none"},
                                                       {Scaling::kStandardize, "standardize"},
                                                       {Scaling::kMinMax, "minmax"}}}};
enum class TaskChoice { kAuto, kMulticlass, kBinary, kRegression };
inline constexpr EnumNames<TaskChoice, 4> kTaskChoiceNames{
    {{{TaskChoice::kAuto, "auto"},
      {TaskChoice::kMulticlass, "multiclass"},
      {TaskChoice::kBinary, "binary"},
      {TaskChoice::kRegression, "regression"}}}};

/// Public knowledge about one column (or all array inputs, or the target).
struct ColumnStats {
  std::optional<double> mean, std, min, max;
  std::optional<std::vector<std::string>> categories;
};

/// A public statistics file (data.stats):
///   {"columns": {"age": {"min": 0, "max": 120}, "radius": {"mean": 14.1, "std": 3.5},
///                "sex": {"categories": ["F", "M"]}},
///    "inputs": {"min": 0, "max": 16},          // every array input (NPY, NPZ, IDX)
///    "target": {"mean": 152, "std": 77},       // a regression target (CSV: or its column);
///                                              // with mean and std it is trained standardized
///    "about": "where these numbers come from"} // for reviewers; not read
struct PublicStats {
  std::map<std::string, ColumnStats> columns;
  std::optional<ColumnStats> inputs, target;
  std::string source;  // the file, for messages
};
PublicStats read_public_stats(const std::filesystem::path& path);
/// The same from the file's text; `source` names it in messages (InputError on anything but the
/// form above).
PublicStats parse_public_stats(std::string_view text, const std::string& source);
/// The target's public statistics: the label column's entry, else "target"; null if neither.
const ColumnStats* target_stats(const PublicStats& stats, const std::string& label);

struct SourceOptions {
  Format format = Format::kCsv;
  /// CSV: the label column; its values are numbers, or names listed in label_values.
  std::string label;
  /// CSV: feature columns; empty = every column but the label.
  std::vector<std::string> features;
  /// CSV: columns whose values are categories (encoded over the public vocabulary).
  std::vector<std::string> categorical;
  CategoricalEncoding categorical_encoding = CategoricalEncoding::kOneHot;
  /// Class names in class order, for text labels; empty = labels are numbers.
  std::vector<std::string> label_values;
  /// Classes of a classification task; 0 = the largest label + 1 (inferred, and said).
  int64_t classes = 0;
  TaskChoice task = TaskChoice::kAuto;
  /// The training split is private (DP-SGD): nothing that shapes the model may be inferred from it.
  bool private_training = false;
  /// data.scaling = standardize: a numeric column whose public statistics give a range but no
  /// mean and std is left raw and listed in LoadedSource::deferred, for dp_standardize
  /// (data/dp_stats.h), instead of being an error.
  bool defer_standardization = false;
  /// A categorical column without a public vocabulary is read as raw codes and listed in
  /// LoadedSource::deferred_categories, for dp_vocabulary (data/dp_vocabulary.h), instead of
  /// being an error.
  bool defer_vocabulary = false;
  /// data.scaling = minmax or standardize: a numeric column whose public statistics give no range
  /// is left raw and listed in LoadedSource::unbounded, for dp_bounds (data/dp_bounds.h), instead
  /// of being an error.
  bool defer_bounds = false;
  Layout layout = Layout::kNchw;
  Scaling scaling = Scaling::kNone;
  const PublicStats* stats = nullptr;
  Missing missing = Missing::kError;
  double fill_value = 0;
};

/// The train and (optional) test data of a source, with what was inferred, in words.
struct LoadedSource {
  Dataset train;
  std::optional<Dataset> test;
  std::vector<std::string> feature_names;  // CSV: after encoding ("sex=F", ... when one-hot)
  std::vector<std::string> notes;          // what was inferred or dropped, for the user
  int64_t dropped_rows = 0;                // rows dropped by missing = drop (train + test)
  std::vector<DeferredColumn> deferred;    // left raw for DP statistics (defer_standardization)
  std::vector<DeferredCategorical> deferred_categories;  // raw codes (defer_vocabulary)
  std::vector<DeferredColumn> unbounded;                 // left raw for a DP range (defer_bounds)
  /// CSV: how each column became features (placeholders for the deferred ones, which the DP
  /// releases complete) and the target's public standardization.
  std::optional<TableEncoding> encoding;
};

/// Reads `train_files` (and `test_files`, when not empty): one file (CSV, NPZ) or the inputs and
/// labels files (NPY: x.npy, y.npy; IDX: images, labels). Throws InputError naming the file, the
/// line (CSV) or header field (NPY) and what is allowed.
LoadedSource load_source(const SourceOptions& options, const std::vector<std::string>& train_files,
                         const std::vector<std::string>& test_files);

}  // namespace dpforge::data
