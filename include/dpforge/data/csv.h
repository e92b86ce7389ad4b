// SPDX-License-Identifier: Apache-2.0
// A strict, streaming RFC 4180 reader: comma-separated fields, optional double quotes ("" is a
// quote inside them; quoted fields may hold commas and line breaks), CRLF or LF line ends. It
// holds one record at a time, so a file of any size streams through it. Strict means every
// deviation is an InputError naming the file and line: a quote inside an unquoted field, text
// after a closing quote, an unterminated quote, a record whose field count differs from the
// header's, a NUL byte, an empty file, a header with an empty or repeated column name. A UTF-8
// byte-order mark before the header is skipped.
//
// Example:
//   CsvReader csv(stream, "patients.csv");
//   const auto& columns = csv.header();
//   std::vector<std::string> row;
//   while (csv.next(row)) use(row, csv.line());
#pragma once
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <vector>

namespace dpforge::data {

class CsvReader {
 public:
  /// Reads the header row; throws InputError when the file is empty or the header is malformed.
  CsvReader(std::istream& input, std::string name);

  const std::vector<std::string>& header() const { return header_; }
  /// The next record into `row` (as many fields as the header); false at the end of the file.
  bool next(std::vector<std::string>& row);
  /// Line on which the last record read began (the header is line 1).
  int64_t line() const { return record_line_; }
  const std::string& name() const { return name_; }
  /// Bytes consumed so far (for throughput figures).
  int64_t bytes_read() const { return bytes_read_; }

 private:
  bool read_record(std::vector<std::string>& fields);
  int get();
  int peek();
  [[noreturn]] void fail(const std::string& what) const;

  std::istream& input_;
  std::string name_;
  std::vector<std::string> header_;
  // Left uninitialized: zero-filling 1 MiB per reader dominated short inputs (the fuzzer's).
  std::unique_ptr<char[]> buffer_;
  size_t at_ = 0, end_ = 0;
  size_t max_fields_ = 0;  // the header's width once it is read
  int64_t line_ = 1, record_line_ = 0, bytes_read_ = 0;
};

}  // namespace dpforge::data
