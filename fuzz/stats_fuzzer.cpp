// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as a public statistics file (data.stats, JSON). It is accepted or
// refused with an InputError naming the file and the key; a JSON value of the wrong type must not
// escape as a JSON library exception, and an accepted file holds only what the form allows.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "dpforge/core/error.h"
#include "dpforge/data/sources.h"
#include "fuzz/fuzz_entry.h"

namespace {

void check(const dpforge::data::ColumnStats& column) {
  for (const auto& value : {column.mean, column.std, column.min, column.max})
    if (value && !std::isfinite(*value)) __builtin_trap();
  if (column.std && !(*column.std > 0)) __builtin_trap();
  if (column.min && column.max && !(*column.max > *column.min)) __builtin_trap();
}

}  // namespace

DPFORGE_FUZZ_ENTRY(stats) {
  try {
    const auto stats = dpforge::data::parse_public_stats(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.json");
    for (const auto& [name, column] : stats.columns) check(column);
    if (stats.inputs) check(*stats.inputs);
    if (stats.target) check(*stats.target);
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
