// SPDX-License-Identifier: Apache-2.0
// How a table's raw rows become a model's features, column by column: the part of a run's
// preprocessing a model needs to score new rows. A run writes its final encoding into model.json
// (public statistics and DP-released ones alike: both are public once released), and
// `dpforge predict` reads rows with it through the same code that read the training file, so the
// two cannot drift apart.
//
// Example:
//   std::ifstream file("new_patients.csv");
//   data::CsvReader csv(file, "new_patients.csv");
//   const auto rows = data::encode_table(csv, encoding);  // rows.inputs: N x F, float32
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/core/enum_names.h"

namespace dpforge::data {

class CsvReader;
struct BoundsRelease;
struct GaussianRelease;
struct VocabularyRelease;

/// What a missing field becomes (data.missing).
enum class Missing { kError, kDrop, kFill };
inline constexpr EnumNames<Missing, 3> kMissingNames{
    {{{Missing::kError, "error"}, {Missing::kDrop, "drop"}, {Missing::kFill, "fill"}}}};

/// The category data.missing = fill gives a missing categorical value.
inline constexpr const char* kMissingCategory = "(missing)";

/// x' = (x − shift) / scale, with x first clamped to [shift, shift + scale] when `clamp`
/// (min-max scaling).
struct ColumnScaler {
  double shift = 0, scale = 1;
  bool clamp = false;
  double apply(double x) const;
};

/// How one column becomes features.
struct ColumnEncoding {
  enum class Kind {
    kNumber,  // one feature: scaler.apply(x); a missing x is the fill value first
    kOneHot,  // one 0/1 feature per category
    kCode,    // one feature: the category's 1-based position (for a learned embedding)
  };
  std::string name;
  Kind kind = Kind::kNumber;
  ColumnScaler scaler;
  /// kOneHot, kCode: the vocabulary, in feature order. A missing value is the category
  /// kMissingCategory (data.missing = fill).
  std::vector<std::string> categories;
  /// A value outside `categories` is an error naming it (a public vocabulary: the user vouched it
  /// is complete), or encodes as all zeros / code 0 (a DP-released one leaves rare values out).
  bool outside_is_error = true;
};
inline constexpr EnumNames<ColumnEncoding::Kind, 3> kColumnKindNames{
    {{{ColumnEncoding::Kind::kNumber, "number"},
      {ColumnEncoding::Kind::kOneHot, "one_hot"},
      {ColumnEncoding::Kind::kCode, "code"}}}};

/// A table's rows → features and targets.
struct TableEncoding {
  std::string label;
  /// Class names in class order, for text labels; empty = the labels are numbers.
  std::vector<std::string> label_values;
  Missing missing = Missing::kError;
  double fill_value = 0;
  std::vector<ColumnEncoding> columns;
  /// A regression target trained standardized: prediction = output · std + mean.
  std::optional<double> target_mean, target_std;

  /// Each feature's name: a number's or code's column, "column=category" for one-hot features.
  std::vector<std::string> feature_names() const;
};

nlohmann::json to_json(const TableEncoding& encoding);
/// InputError naming `source` (and the entry) when `json` is not what to_json writes.
TableEncoding table_encoding_from_json(const nlohmann::json& json, const std::string& source);

/// Completes a run's encoding once its DP releases are known (any may be null): a column the
/// ranges' release covers is min-max scaled over its released range (clamped; a target is
/// standardized with the range's centre and half-width), a column the
/// standardizing release covers (after that, so it wins) is scaled by its released mean and std (no
/// clamp, as data::standardize_columns does), a column with a released vocabulary is encoded over
/// it (a value outside it: zeros, or code 0), and a target the release covers gets its mean and
/// std.
void apply_releases(TableEncoding& encoding, const BoundsRelease* ranges,
                    const GaussianRelease* statistics, const VocabularyRelease* vocabularies);

/// Rows to score: their features (float32 N x F) and, per row of the file, its line and whether it
/// was kept (data.missing = drop skips rows with a missing field, as training did).
struct EncodedRows {
  torch::Tensor inputs;
  std::vector<int64_t> lines;  // of the kept rows
  std::vector<int64_t> dropped_lines;
};

/// Encodes every row of `csv` with `encoding`: the label column may be absent (it is not read); a
/// feature column missing from the header is an InputError naming it, as is a field the training
/// rules refuse (a missing value under data.missing = error, a non-number, a category outside a
/// public vocabulary), with the file and line.
EncodedRows encode_table(CsvReader& csv, const TableEncoding& encoding);

namespace detail {
/// Whether a field is a missing value: empty, or NA, N/A, NaN, nan, NAN, null, NULL, ?.
bool is_missing(const std::string& field);
/// `text` as a number, or nullopt (a leading + is allowed; nothing may follow the number).
std::optional<double> parse_number(const std::string& text);
/// Writes the features of `column`'s `field` (a value, not missing unless `missing`) at `out` and
/// returns how many; InputError naming the file, line and column of `csv` when the rules refuse
/// the field.
size_t encode_field(const ColumnEncoding& column, const std::string& field, bool missing,
                    const TableEncoding& rules, const CsvReader& csv, float* out);
/// The features a column takes, and their names (TableEncoding::feature_names).
size_t feature_count(const ColumnEncoding& column);
void append_feature_names(const ColumnEncoding& column, std::vector<std::string>& names);
/// InputError (naming the file, line and column of `csv`) for a missing field under
/// data.missing = error, and for a categorical field spelled as kMissingCategory under fill.
void check_field_rules(const ColumnEncoding& column, const std::string& field, bool missing,
                       const TableEncoding& rules, const CsvReader& csv);
}  // namespace detail

}  // namespace dpforge::data
