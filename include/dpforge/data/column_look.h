// SPDX-License-Identifier: Apache-2.0
// What a CSV's columns look like: numbers or text, how many fields are missing, how many distinct
// texts. Types are never inferred inside a private run (the schema is the user's to state); this
// serves two things outside it: `dpforge stats-template`, which writes the statistics file's
// skeleton for the user to review and fill in with public values, and the wording of an error
// that stops a run ("column 'city' is text: declare it categorical"), which releases nothing.
//
// Example:
//   data::CsvReader csv(file, "patients.csv");
//   for (const auto& column : data::look_at_columns(csv)) use(column.name, column.numeric);
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dpforge::data {

class CsvReader;

struct ColumnLook {
  std::string name;
  /// Every field that is not missing is a finite number (data/table_encoding.h's rules).
  bool numeric = true;
  int64_t missing = 0;
  /// The first field that is not a number, and its line (text columns).
  std::string first_text;
  int64_t first_text_line = 0;
  /// Distinct values that are not missing, counted up to kMaxCounted.
  int64_t distinct = 0;
  static constexpr int64_t kMaxCounted = 1000;
};

/// Reads `csv` to its end (from wherever it stands) and describes each of its columns.
std::vector<ColumnLook> look_at_columns(CsvReader& csv);

}  // namespace dpforge::data
