// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/csv.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <utility>

#include "dpforge/core/error.h"

namespace dpforge::data {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 20;
// A field longer than this is not a table cell but a broken quote swallowing the file.
constexpr size_t kMaxFieldBytes = size_t{1} << 20;
constexpr size_t kMaxColumns = size_t{1} << 20;

}  // namespace

CsvReader::CsvReader(std::istream& input, std::string name)
    : input_(input),
      name_(std::move(name)),
      buffer_(std::make_unique_for_overwrite<char[]>(kBufferBytes)) {
  // Spreadsheets' "CSV UTF-8" starts with a byte-order mark, which is not part of the first name.
  if (peek() == 0xEF && end_ >= 3 && static_cast<unsigned char>(buffer_[1]) == 0xBB &&
      static_cast<unsigned char>(buffer_[2]) == 0xBF) {
    at_ = 3;
    bytes_read_ = 3;
  }
  max_fields_ = kMaxColumns;
  if (!read_record(header_)) {
    throw_input_error("{}: the file is empty; a CSV file needs a header row naming its columns",
                      name_);
  }
  max_fields_ = header_.size();
  // A file saved with another separator reads as one column; name the separator, not the
  // columns the recipe then fails to find.
  if (header_.size() == 1) {
    for (const auto& [separator, kind] : {std::pair{';', "semicolon"}, std::pair{'\t', "tab"}}) {
      const auto count = std::count(header_[0].begin(), header_[0].end(), separator);
      if (count == 0) continue;
      throw_input_error(
          "{}: line 1: the header row is one column holding {} {}s: the file looks "
          "{}-separated, and dpforge reads comma-separated files (RFC 4180); save it with commas "
          "as separators and points as decimal marks",
          name_, count, kind, kind);
    }
  }
  std::set<std::string> seen;
  for (size_t c = 0; c < header_.size(); ++c) {
    if (header_[c].empty()) {
      throw_input_error("{}: line 1, column {}: empty column name in the header row", name_, c + 1);
    }
    if (!seen.insert(header_[c]).second) {
      throw_input_error("{}: line 1: column name '{}' appears twice in the header row", name_,
                        header_[c]);
    }
  }
}

int CsvReader::peek() {
  if (at_ == end_) {
    input_.read(buffer_.get(), static_cast<std::streamsize>(kBufferBytes));
    end_ = static_cast<size_t>(input_.gcount());
    at_ = 0;
    if (end_ == 0) return -1;
  }
  return static_cast<unsigned char>(buffer_[at_]);
}

int CsvReader::get() {
  const int c = peek();
  if (c >= 0) {
    ++at_;
    ++bytes_read_;
  }
  return c;
}

void CsvReader::fail(const std::string& what) const {
  throw_input_error("{}: line {}: {}", name_, line_, what);
}

// One record: false at the end of the input (nothing left, not even an empty line).
bool CsvReader::read_record(std::vector<std::string>& fields) {
  fields.clear();
  if (peek() < 0) return false;
  record_line_ = line_;
  std::string field;
  while (true) {
    int c = get();
    if (c == '"' && field.empty()) {
      // A quoted field: runs to the closing quote, "" standing for one quote.
      while (true) {
        c = get();
        if (c < 0) {
          throw_input_error("{}: line {}: a quoted field opened on line {} is never closed", name_,
                            line_, record_line_);
        }
        if (c == '"') {
          if (peek() != '"') break;
          get();
        }
        if (c == '\n') ++line_;
        if (c == 0) fail("NUL byte inside a quoted field (is this a binary file?)");
        field.push_back(static_cast<char>(c));
        if (field.size() > kMaxFieldBytes) fail("a quoted field longer than 1 MiB");
      }
      c = get();
      if (c != ',' && c != '\n' && c != '\r' && c >= 0) {
        fail("text after a closing quote (a field is either wholly quoted or not at all)");
      }
    } else {
      while (c >= 0 && c != ',' && c != '\n' && c != '\r') {
        if (c == '"') fail("a double quote inside an unquoted field; quote the whole field");
        if (c == 0) fail("NUL byte in a field (is this a binary file?)");
        field.push_back(static_cast<char>(c));
        if (field.size() > kMaxFieldBytes) fail("a field longer than 1 MiB");
        c = get();
      }
    }
    fields.push_back(std::move(field));
    field.clear();
    if (c == ',' && fields.size() >= max_fields_) {
      // Stop here: a runaway row must not grow without bound before it is refused.
      fail(fmt::format("more fields than the header's {} columns", max_fields_));
    }
    if (c == ',') continue;
    if (c == '\r') {
      if (peek() != '\n') fail("a carriage return not followed by a line feed");
      get();
    }
    if (c == '\r' || c == '\n') ++line_;
    return true;
  }
}

bool CsvReader::next(std::vector<std::string>& row) {
  while (read_record(row)) {
    // A blank line (one empty field) carries no record; a lone empty column would be ambiguous.
    if (row.size() == 1 && row[0].empty() && header_.size() > 1) continue;
    if (row.size() != header_.size()) {
      throw_input_error(
          "{}: line {}: {} fields, the header has {} columns ({}); every row needs "
          "one value per column",
          name_, record_line_, row.size(), header_.size(),
          header_.size() <= 8 ? fmt::format("{}", fmt::join(header_, ", "))
                              : header_.front() + ", ..., " + header_.back());
    }
    return true;
  }
  return false;
}

}  // namespace dpforge::data
