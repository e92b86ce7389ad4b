// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/column_look.h"

#include <cmath>
#include <unordered_set>

#include "dpforge/data/csv.h"
#include "dpforge/data/table_encoding.h"

namespace dpforge::data {

std::vector<ColumnLook> look_at_columns(CsvReader& csv) {
  std::vector<ColumnLook> columns(csv.header().size());
  std::vector<std::unordered_set<std::string>> seen(columns.size());
  for (size_t c = 0; c < columns.size(); ++c) columns[c].name = csv.header()[c];
  std::vector<std::string> row;
  while (csv.next(row)) {
    for (size_t c = 0; c < columns.size(); ++c) {
      auto& column = columns[c];
      const auto& field = row[c];
      if (detail::is_missing(field)) {
        ++column.missing;
        continue;
      }
      if (static_cast<int64_t>(seen[c].size()) < ColumnLook::kMaxCounted) seen[c].insert(field);
      if (!column.numeric) continue;
      const auto value = detail::parse_number(field);
      if (value && std::isfinite(*value)) continue;
      column.numeric = false;
      column.first_text = field;
      column.first_text_line = csv.line();
    }
  }
  for (size_t c = 0; c < columns.size(); ++c)
    columns[c].distinct = static_cast<int64_t>(seen[c].size());
  return columns;
}

}  // namespace dpforge::data
