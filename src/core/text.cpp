// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/text.h"

namespace dpforge {

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  return std::string(text.substr(begin, text.find_last_not_of(" \t") - begin + 1));
}

std::vector<std::string> split_trimmed(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    parts.push_back(
        trim(text.substr(begin, end == std::string_view::npos ? text.npos : end - begin)));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  for (auto& item : split_trimmed(text, ','))
    if (!item.empty()) items.push_back(std::move(item));
  return items;
}

}  // namespace dpforge
