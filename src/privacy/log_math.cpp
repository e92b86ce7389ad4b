// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/log_math.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

namespace dpforge::privacy {

double log_add(double log_x, double log_y) {
  const double low = std::min(log_x, log_y), high = std::max(log_x, log_y);
  if (low == -std::numeric_limits<double>::infinity()) return high;
  return std::log1p(std::exp(low - high)) + high;
}

double log_sub(double log_x, double log_y) {
  if (log_x < log_y) throw std::domain_error("log_sub: the result would be negative");
  if (log_y == -std::numeric_limits<double>::infinity()) return log_x;
  if (log_x == log_y) return -std::numeric_limits<double>::infinity();
  const double difference = log_x - log_y;
  // expm1 overflows past ~709; then eˣ − eʸ ≈ eˣ to double precision.
  if (difference > 700) return log_x;
  return std::log(std::expm1(difference)) + log_y;
}

double log_ndtr(double x) {
  if (x == -std::numeric_limits<double>::infinity()) return x;
  // Near 1, log Φ(x) = log1p(−Φ̄(x)) keeps the digits that log(1 − tiny) would round away.
  if (x > 0) return std::log1p(-0.5 * std::erfc(x / std::numbers::sqrt2));
  if (x > -20) return std::log(0.5 * std::erfc(-x / std::numbers::sqrt2));
  // Φ(x) = φ(x)/(−x) · (1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸ − …) for x → −∞; at x ≤ −20 five
  // terms are accurate to ~1e-13 relative.
  const double inv_x2 = 1.0 / (x * x);
  double term = 1.0, series = 1.0;
  for (int k = 1; k <= 5; ++k) {
    term *= -(2.0 * k - 1.0) * inv_x2;
    series += term;
  }
  return -0.5 * x * x - std::log(-x) - 0.5 * std::log(2 * std::numbers::pi) + std::log(series);
}

double log_erfc(double x) { return std::numbers::ln2 + log_ndtr(-std::numbers::sqrt2 * x); }

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }

double normal_quantile(double p) {
  if (!(p > 0 && p < 1)) {
    if (p == 0) return -std::numeric_limits<double>::infinity();
    if (p == 1) return std::numeric_limits<double>::infinity();
    throw std::domain_error("normal_quantile: p must lie in [0, 1]");
  }
  // Acklam (2003) coefficients.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step on Φ(x) − p brings the 1e-9 approximation to full double precision.
  const double error = normal_cdf(x) - p;
  const double u = error * std::sqrt(2 * std::numbers::pi) * std::exp(0.5 * x * x);
  return x - u / (1 + 0.5 * x * u);
}

}  // namespace dpforge::privacy
