// SPDX-License-Identifier: Apache-2.0
// Splitting the comma lists of recipes and command lines, one way everywhere.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dpforge {

/// `text` without leading and trailing spaces and tabs.
std::string trim(std::string_view text);

/// "a, b,,c" split at `separator`, each part trimmed, empty parts kept: {"a", "b", "", "c"}
/// (so a caller can say which item was empty).
std::vector<std::string> split_trimmed(std::string_view text, char separator);

/// "a, b ,,c" → {"a", "b", "c"}: a comma-separated list with blank items dropped.
std::vector<std::string> split_list(std::string_view text);

}  // namespace dpforge
