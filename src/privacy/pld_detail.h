// SPDX-License-Identifier: Apache-2.0
// Shared by the PLD accountant's files (one step: pld_single_step.cpp; composition: pld.cpp;
// reading δ and ε off a composition: pld_reading.cpp). Not a public header.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace dpforge::privacy::pld_detail {

constexpr double kInf = std::numeric_limits<double>::infinity();
// 2^20 points hold a composed window of 100 nats at dp_accounting's 1e-4 interval, which covers
// ordinary DP-SGD settings; wider ranges (ε in the hundreds and beyond) coarsen the grid, which at
// that ε costs under 0.1% (tests/privacy_test.cpp) and keeps one ε at about a second, not four.
constexpr int64_t kMaxGridPoints = int64_t{1} << 20;

// A loss range that needs more than kMaxGridPoints at this interval; `loss_range` tells the caller
// which interval would fit, so it retries once instead of doubling its way there.
struct GridTooLarge : std::runtime_error {
  GridTooLarge(const char* what, double range) : std::runtime_error(what), loss_range(range) {}
  double loss_range;
};

// Every quantity below is a probability or a log-probability. A NaN or an infinity where a finite
// number belongs means a term was lost (e^ℓ overflows past ℓ ≈ 709, ∞·0 = NaN, and max(0, NaN) = 0
// would then drop the term silently): that is an error, never a rounding to be clamped away.
inline double checked(double value, const char* what) {
  if (std::isnan(value) || value == kInf) {
    throw std::logic_error(std::string("PLD accountant: non-finite intermediate (") + what + ")");
  }
  return value;
}

}  // namespace dpforge::privacy::pld_detail
