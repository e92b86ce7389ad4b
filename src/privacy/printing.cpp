// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/printing.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace dpforge::privacy {
namespace {

double parse(const std::string& text) {
  double value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// The nearest text when it reads back at or above `value`; else the next one up, found by
// stepping the last printed digit (the scale of that digit is exact enough for a few steps).
template <typename Format>
std::string upper(double value, Format format, double last_digit) {
  if (std::isinf(value) && value > 0) return "inf";
  std::string text = format(value);
  for (int step = 1; parse(text) < value && step <= 4; ++step)
    text = format(value + step * last_digit / 2);
  return text;
}

}  // namespace

std::string upper_significant(double value, int digits) {
  if (value == 0 || !std::isfinite(value)) return fmt::format("{:.{}g}", value, digits);
  const double exponent = std::floor(std::log10(std::fabs(value)));
  const double last_digit = std::pow(10.0, exponent - digits + 1);
  return upper(
      value, [digits](double v) { return fmt::format("{:.{}g}", v, digits); }, last_digit);
}

std::string upper_fixed(double value, int decimals) {
  return upper(
      value, [decimals](double v) { return fmt::format("{:.{}f}", v, decimals); },
      std::pow(10.0, -decimals));
}

}  // namespace dpforge::privacy
