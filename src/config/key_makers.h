// SPDX-License-Identifier: Apache-2.0
// Makers of recipe keys by type (int, float, bool, enum, string, seed): each checks and parses its
// value and says what is allowed. Shared by the files that declare keys; not a public header.
#pragma once
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "src/config/key_table.h"

namespace dpforge::config::detail {

inline int64_t parse_int(const std::string& text, int64_t lo, int64_t hi,
                         const std::string& allowed) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    throw BadValue{allowed};
  }
  return value;
}

inline double parse_double(const std::string& text, double lo, bool lo_open, double hi,
                           const std::string& allowed) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < lo || (lo_open && value == lo) || value > hi) {
    throw BadValue{allowed};
  }
  return value;
}

// One spelling per value: a recipe (and report.json, which stores it) reads the same everywhere.
inline bool parse_bool(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw BadValue{"true or false"};
}

inline std::string format_double(double value) { return fmt::format("{}", value); }

template <typename Get, typename Set>
KeySpec int_key(std::string key, int64_t lo, int64_t hi, std::string doc, Get get, Set set) {
  std::string allowed = hi == std::numeric_limits<int64_t>::max()
                            ? fmt::format("an integer >= {}", lo)
                            : fmt::format("an integer in [{}, {}]", lo, hi);
  return KeySpec{
      std::move(key),
      "int",
      allowed,
      std::move(doc),
      [=](Recipe& r, const std::string& text) { set(r, parse_int(text, lo, hi, allowed)); },
      [=](const Recipe& r) { return std::to_string(get(r)); }};
}

template <typename Get, typename Set>
KeySpec float_key(std::string key, double lo, bool lo_open, double hi, std::string doc, Get get,
                  Set set) {
  std::string allowed = hi == std::numeric_limits<double>::infinity()
                            ? fmt::format("a number {} {:g}", lo_open ? ">" : ">=", lo)
                            : fmt::format("a number in {}{:g}, {:g}]", lo_open ? "(" : "[", lo, hi);
  return KeySpec{std::move(key),
                 "float",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   set(r, parse_double(text, lo, lo_open, hi, allowed));
                 },
                 [=](const Recipe& r) { return format_double(get(r)); }};
}

template <typename Get, typename Set>
KeySpec bool_key(std::string key, std::string doc, Get get, Set set) {
  return KeySpec{std::move(key),
                 "bool",
                 "true or false",
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) { set(r, parse_bool(text)); },
                 [=](const Recipe& r) { return std::string(get(r) ? "true" : "false"); }};
}

template <typename Enum, std::size_t N, typename Get, typename Set>
KeySpec enum_key(std::string key, const EnumNames<Enum, N>& names, std::string doc, Get get,
                 Set set) {
  std::string allowed = fmt::format("one of {}", names.allowed());
  return KeySpec{std::move(key),
                 "enum",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   const auto value = names.parse(text);
                   if (!value) throw BadValue{allowed};
                   set(r, *value);
                 },
                 [=](const Recipe& r) { return std::string(names.name(get(r))); }};
}

template <typename Get, typename Set>
KeySpec string_key(std::string key, std::string doc, Get get, Set set) {
  return KeySpec{std::move(key),
                 "string",
                 "any text",
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) { set(r, text); },
                 [=](const Recipe& r) { return get(r); }};
}

template <typename Get, typename Set>
KeySpec seed_key(std::string key, std::string doc, Get get, Set set) {
  const std::string allowed = "an integer in [0, 2^64-1], or empty for a seed from the OS";
  return KeySpec{std::move(key),
                 "int or empty",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   if (text.empty()) {
                     set(r, std::nullopt);
                     return;
                   }
                   uint64_t value = 0;
                   const auto [end, ec] =
                       std::from_chars(text.data(), text.data() + text.size(), value);
                   if (ec != std::errc() || end != text.data() + text.size())
                     throw BadValue{allowed};
                   set(r, value);
                 },
                 [=](const Recipe& r) {
                   const std::optional<uint64_t> seed = get(r);
                   return seed ? std::to_string(*seed) : std::string();
                 }};
}

// A number, or auto (nullopt) for a value the run resolves from the rest of the recipe.
template <typename Get, typename Set>
KeySpec float_or_auto_key(std::string key, double lo, double hi, std::string doc, Get get,
                          Set set) {
  const std::string allowed = fmt::format("auto or a number in [{:g}, {:g}]", lo, hi);
  return KeySpec{std::move(key),
                 "float or auto",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   if (text == "auto") {
                     set(r, std::nullopt);
                     return;
                   }
                   set(r, parse_double(text, lo, false, hi, allowed));
                 },
                 [=](const Recipe& r) {
                   const std::optional<double> value = get(r);
                   return value ? format_double(*value) : std::string("auto");
                 }};
}

}  // namespace dpforge::config::detail
