// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/table_encoding.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "dpforge/core/error.h"
#include "dpforge/data/csv.h"
#include "dpforge/data/dp_bounds.h"
#include "dpforge/data/dp_stats.h"
#include "dpforge/data/dp_vocabulary.h"

namespace dpforge::data {

double ColumnScaler::apply(double x) const {
  if (clamp) x = std::clamp(x, shift, shift + scale);
  return (x - shift) / scale;
}

namespace detail {

// Spellings of a missing value in exported tables (pandas, R, spreadsheets). Checked for every
// cell, so the common case (a number) is decided by its first character.
bool is_missing(const std::string& field) {
  if (field.empty()) return true;
  const char first = field[0];
  if (first != 'N' && first != 'n' && first != '?') return false;
  return field == "NA" || field == "N/A" || field == "NaN" || field == "nan" || field == "NAN" ||
         field == "null" || field == "NULL" || field == "?";
}

std::optional<double> parse_number(const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin != end && *begin == '+') ++begin;
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || stop != end || begin == end) return std::nullopt;
  return value;
}

size_t feature_count(const ColumnEncoding& column) {
  return column.kind == ColumnEncoding::Kind::kOneHot ? column.categories.size() : 1;
}

void append_feature_names(const ColumnEncoding& column, std::vector<std::string>& names) {
  if (column.kind != ColumnEncoding::Kind::kOneHot) {
    names.push_back(column.name);
    return;
  }
  for (const auto& category : column.categories) names.push_back(column.name + "=" + category);
}

namespace {

// Why a numeric column's field did not parse, and what to do: a decimal comma ("3,5", quoted in a
// comma-separated file) is a number written another way, not a category.
std::string not_a_number_hint(const std::string& field) {
  const auto comma = field.find(',');
  const bool decimal_comma =
      comma != std::string::npos && comma > 0 && comma + 1 < field.size() &&
      field.find(',', comma + 1) == std::string::npos &&
      parse_number(field.substr(0, comma) + "." + field.substr(comma + 1)).has_value();
  if (decimal_comma) {
    return fmt::format("it has a decimal comma; dpforge reads decimal points: write {}.{}",
                       field.substr(0, comma), field.substr(comma + 1));
  }
  return "list the column in data.categorical if its values are categories, or drop it";
}

size_t encode_category(const ColumnEncoding& column, const std::string& field, bool missing,
                       float* out, const CsvReader& csv) {
  const std::string& value = missing ? std::string(kMissingCategory) : field;
  const auto found = std::find(column.categories.begin(), column.categories.end(), value);
  const bool outside = found == column.categories.end();
  if (outside && column.outside_is_error) {
    throw_input_error(
        "{}: line {}, column '{}': category '{}' is outside its public vocabulary ({}), which "
        "data.stats declared complete",
        csv.name(), csv.line(), column.name, field, fmt::join(column.categories, ", "));
  }
  const auto position = found - column.categories.begin();
  if (column.kind == ColumnEncoding::Kind::kCode) {
    *out = outside ? 0.0F : static_cast<float>(position + 1);
    return 1;
  }
  std::fill_n(out, column.categories.size(), 0.0F);
  if (!outside) out[position] = 1.0F;
  return column.categories.size();
}

}  // namespace

void check_field_rules(const ColumnEncoding& column, const std::string& field, bool missing,
                       const TableEncoding& rules, const CsvReader& csv) {
  if (missing && rules.missing == Missing::kError) {
    throw_input_error(
        "{}: line {}, column '{}': missing value ('{}'); choose a rule: data.missing = drop "
        "(skip such rows) or fill (data.fill_value for numbers, a category of its own for "
        "categorical columns)",
        csv.name(), csv.line(), column.name, field);
  }
  if (column.kind != ColumnEncoding::Kind::kNumber && !missing && rules.missing == Missing::kFill &&
      field == kMissingCategory) {
    throw_input_error(
        "{}: line {}, column '{}': the value '{}' is the category data.missing = fill gives "
        "missing values; rename it in the file so the two stay apart",
        csv.name(), csv.line(), column.name, field);
  }
}

size_t encode_field(const ColumnEncoding& column, const std::string& field, bool missing,
                    const TableEncoding& rules, const CsvReader& csv, float* out) {
  check_field_rules(column, field, missing, rules, csv);
  if (column.kind != ColumnEncoding::Kind::kNumber)
    return encode_category(column, field, missing, out, csv);
  const auto value = missing ? std::optional<double>(rules.fill_value) : parse_number(field);
  if (!value) {
    throw_input_error("{}: line {}, column '{}': '{}' is not a number ({})", csv.name(), csv.line(),
                      column.name, field, not_a_number_hint(field));
  }
  if (!std::isfinite(*value)) {
    throw_input_error("{}: line {}, column '{}': infinite value '{}'", csv.name(), csv.line(),
                      column.name, field);
  }
  *out = static_cast<float>(column.scaler.apply(*value));
  return 1;
}

}  // namespace detail

std::vector<std::string> TableEncoding::feature_names() const {
  std::vector<std::string> names;
  for (const auto& column : columns) detail::append_feature_names(column, names);
  return names;
}

nlohmann::json to_json(const TableEncoding& encoding) {
  auto columns = nlohmann::json::array();
  for (const auto& column : encoding.columns) {
    nlohmann::json entry{{"name", column.name}, {"kind", kColumnKindNames.name(column.kind)}};
    if (column.kind == ColumnEncoding::Kind::kNumber) {
      entry["shift"] = column.scaler.shift;
      entry["scale"] = column.scaler.scale;
      entry["clamp"] = column.scaler.clamp;
    } else {
      entry["categories"] = column.categories;
      entry["outside"] = column.outside_is_error ? "error" : "zeros";
    }
    columns.push_back(std::move(entry));
  }
  nlohmann::json json{{"label", encoding.label},
                      {"label_values", encoding.label_values},
                      {"missing", kMissingNames.name(encoding.missing)},
                      {"fill_value", encoding.fill_value},
                      {"missing_category", kMissingCategory},
                      {"columns", std::move(columns)},
                      {"feature_names", encoding.feature_names()}};
  if (encoding.target_mean && encoding.target_std) {
    json["target"] = {{"mean", *encoding.target_mean}, {"std", *encoding.target_std}};
  }
  return json;
}

namespace {

template <typename T>
T field_of(const nlohmann::json& json, const char* key, const std::string& where) {
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw_input_error("{}.{} is missing or of the wrong type", where, key);
  }
}

template <typename Enum, size_t N>
Enum enum_of(const nlohmann::json& json, const char* key, const EnumNames<Enum, N>& names,
             const std::string& where) {
  const auto text = field_of<std::string>(json, key, where);
  const auto value = names.parse(text);
  if (!value) {
    throw_input_error("{}.{} = '{}' is not one of {}", where, key, text, names.allowed());
  }
  return *value;
}

}  // namespace

TableEncoding table_encoding_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string where = source + ": preprocessing";
  TableEncoding encoding;
  encoding.label = field_of<std::string>(json, "label", where);
  encoding.label_values = field_of<std::vector<std::string>>(json, "label_values", where);
  encoding.missing = enum_of(json, "missing", kMissingNames, where);
  encoding.fill_value = field_of<double>(json, "fill_value", where);
  const auto columns = field_of<nlohmann::json>(json, "columns", where);
  if (!columns.is_array()) throw_input_error("{}.columns must be an array", where);
  for (size_t c = 0; c < columns.size(); ++c) {
    const std::string at = fmt::format("{}.columns[{}]", where, c);
    ColumnEncoding column;
    column.name = field_of<std::string>(columns[c], "name", at);
    column.kind = enum_of(columns[c], "kind", kColumnKindNames, at);
    if (column.kind == ColumnEncoding::Kind::kNumber) {
      column.scaler = {field_of<double>(columns[c], "shift", at),
                       field_of<double>(columns[c], "scale", at),
                       field_of<bool>(columns[c], "clamp", at)};
      if (!(column.scaler.scale > 0) || !std::isfinite(column.scaler.shift))
        throw_input_error("{}: scale must be > 0 and shift finite", at);
    } else {
      column.categories = field_of<std::vector<std::string>>(columns[c], "categories", at);
      const auto outside = field_of<std::string>(columns[c], "outside", at);
      if (outside != "error" && outside != "zeros")
        throw_input_error("{}.outside = '{}' is not one of error, zeros", at, outside);
      column.outside_is_error = outside == "error";
    }
    encoding.columns.push_back(std::move(column));
  }
  if (json.contains("target")) {
    encoding.target_mean = field_of<double>(json["target"], "mean", where + ".target");
    encoding.target_std = field_of<double>(json["target"], "std", where + ".target");
  }
  return encoding;
}

void apply_releases(TableEncoding& encoding, const BoundsRelease* ranges,
                    const GaussianRelease* statistics, const VocabularyRelease* vocabularies) {
  auto column_named = [&](const std::string& name) -> ColumnEncoding& {
    for (auto& column : encoding.columns)
      if (column.name == name) return column;
    throw std::logic_error("apply_releases: no column " + name);
  };
  for (size_t j = 0; ranges != nullptr && j < ranges->columns.size(); ++j) {
    if (ranges->columns[j] == encoding.label) {  // its range's centre and half-width (min-max)
      encoding.target_mean = 0.5 * (ranges->lows[j] + ranges->highs[j]);
      encoding.target_std = 0.5 * (ranges->highs[j] - ranges->lows[j]);
      continue;
    }
    column_named(ranges->columns[j]).scaler = {ranges->lows[j], ranges->highs[j] - ranges->lows[j],
                                               true};
  }
  for (size_t j = 0; statistics != nullptr && j < statistics->columns.size(); ++j) {
    if (statistics->columns[j] == encoding.label) {
      encoding.target_mean = statistics->means[j];
      encoding.target_std = statistics->stds[j];
      continue;
    }
    column_named(statistics->columns[j]).scaler = {statistics->means[j], statistics->stds[j],
                                                   false};
  }
  for (size_t j = 0; vocabularies != nullptr && j < vocabularies->columns.size(); ++j) {
    auto& column = column_named(vocabularies->columns[j]);
    column.categories = vocabularies->vocabularies[j];
    column.outside_is_error = false;
  }
}

EncodedRows encode_table(CsvReader& csv, const TableEncoding& encoding) {
  const auto& header = csv.header();
  std::vector<size_t> at;
  for (const auto& column : encoding.columns) {
    const auto found = std::find(header.begin(), header.end(), column.name);
    if (found == header.end()) {
      throw_input_error("{}: the model reads column '{}', which the header does not have ({})",
                        csv.name(), column.name, fmt::join(header, ", "));
    }
    at.push_back(static_cast<size_t>(found - header.begin()));
  }
  size_t width = 0;
  for (const auto& column : encoding.columns) width += detail::feature_count(column);
  EncodedRows rows;
  std::vector<float> features;
  std::vector<float> row_features(width);
  std::vector<std::string> row;
  while (csv.next(row)) {
    size_t next = 0;
    bool drop = false;
    for (size_t c = 0; c < encoding.columns.size() && !drop; ++c) {
      const auto& field = row[at[c]];
      const bool missing = detail::is_missing(field);
      drop = missing && encoding.missing == Missing::kDrop;
      if (!drop) {
        next += detail::encode_field(encoding.columns[c], field, missing, encoding, csv,
                                     row_features.data() + next);
      }
    }
    if (drop) {
      rows.dropped_lines.push_back(csv.line());
      continue;
    }
    rows.lines.push_back(csv.line());
    features.insert(features.end(), row_features.begin(), row_features.end());
  }
  const auto n = static_cast<int64_t>(rows.lines.size());
  rows.inputs =
      torch::from_blob(features.data(), {n, static_cast<int64_t>(width)}, torch::kFloat32).clone();
  return rows;
}

}  // namespace dpforge::data
