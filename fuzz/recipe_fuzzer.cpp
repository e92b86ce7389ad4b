// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as a recipe file, plus the same bytes' first line as a --set
// override. The contract under test: a recipe is either accepted or refused with an InputError;
// nothing else escapes, nothing crashes, nothing reads out of bounds (ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "dpforge/config/recipe.h"
#include "dpforge/core/error.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(recipe) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    std::istringstream stream(text);
    const auto recipe = dpforge::config::parse_recipe(stream, "fuzz.ini");
    // An accepted recipe must resolve and re-apply its own values unchanged.
    std::vector<std::string> overrides;
    for (const auto& [key, value] : dpforge::config::resolved_values(recipe))
      overrides.push_back(key + "=" + value);
    dpforge::config::Recipe copy;
    dpforge::config::apply_overrides(copy, overrides);
    if (dpforge::config::resolved_values(copy) != dpforge::config::resolved_values(recipe))
      __builtin_trap();
  } catch (const dpforge::InputError&) {
  }
  try {
    dpforge::config::Recipe recipe;
    dpforge::config::apply_overrides(recipe, {text.substr(0, text.find('\n'))});
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
