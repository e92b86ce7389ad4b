// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as a CSV file. The reader must return records of exactly the
// header's width or refuse the input with an InputError; never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "dpforge/core/error.h"
#include "dpforge/data/csv.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(csv) {
  std::istringstream stream(std::string(reinterpret_cast<const char*>(data), size));
  try {
    dpforge::data::CsvReader csv(stream, "fuzz.csv");
    std::vector<std::string> row;
    int64_t previous_line = 1;
    while (csv.next(row)) {
      if (row.size() != csv.header().size() || csv.line() <= previous_line) __builtin_trap();
      previous_line = csv.line();
    }
    if (csv.bytes_read() != static_cast<int64_t>(size)) __builtin_trap();
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
