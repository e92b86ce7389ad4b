// SPDX-License-Identifier: Apache-2.0
// Names of an enum's values, declared once beside the enum: recipes, reports and command lines
// parse and print choices through the same table, so a new value cannot be spelled two ways.
//
// Example:
//   enum class ClipMode { kFlat, kPerLayer };
//   inline constexpr EnumNames<ClipMode, 2> kClipModeNames{{{ClipMode::kFlat, "flat"},
//                                                          {ClipMode::kPerLayer, "per_layer"}}};
//   kClipModeNames.name(ClipMode::kFlat) == "flat";  kClipModeNames.parse("per_layer") == kPerLayer
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace dpforge {

template <typename Enum, std::size_t N>
struct EnumNames {
  std::array<std::pair<Enum, std::string_view>, N> entries;

  constexpr std::string_view name(Enum value) const {
    for (const auto& [candidate, text] : entries) {
      if (candidate == value) return text;
    }
    return "unknown";
  }
  constexpr std::optional<Enum> parse(std::string_view text) const {
    for (const auto& [value, candidate] : entries) {
      if (candidate == text) return value;
    }
    return std::nullopt;
  }
  /// "a, b, c": the allowed values, for error messages.
  std::string allowed() const {
    std::string out;
    for (const auto& [value, text] : entries) out += (out.empty() ? "" : ", ") + std::string(text);
    return out;
  }
};

}  // namespace dpforge
