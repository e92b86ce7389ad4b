// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/statistics.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "dpforge/privacy/log_math.h"

namespace dpforge::audit {
namespace {

// Continued fraction of I_x(a, b) (converges fast for x < (a + 1)/(a + b + 2)).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-16;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1);
  if (std::abs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 100000; ++m) {
    const double md = m;
    double numerator = md * (b - md) * x / ((a + 2 * md - 1) * (a + 2 * md));
    d = 1 + numerator * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + numerator / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    numerator = -(a + md) * (a + b + md) * x / ((a + 2 * md) * (a + 2 * md + 1));
    d = 1 + numerator * d;
    if (std::abs(d) < kTiny) d = kTiny;
    c = 1 + numerator / c;
    if (std::abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < kEps) break;
  }
  return h;
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0 && b > 0) || !(x >= 0 && x <= 1)) {
    throw std::domain_error("incomplete_beta: need a, b > 0 and x in [0, 1]");
  }
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1) / (a + b + 2)) {
    return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  }
  return 1 - std::exp(log_front) * beta_continued_fraction(b, a, 1 - x) / b;
}

double incomplete_beta_inverse(double a, double b, double p) {
  if (!(p >= 0 && p <= 1)) throw std::domain_error("incomplete_beta_inverse: p must be in [0, 1]");
  double low = 0, high = 1;
  for (int i = 0; i < 200 && high - low > 1e-15; ++i) {
    const double middle = 0.5 * (low + high);
    (incomplete_beta(a, b, middle) < p ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

double binomial_at_least(int64_t k, int64_t n, double p) {
  if (k <= 0) return 1.0;
  if (k > n) return 0.0;
  return incomplete_beta(static_cast<double>(k), static_cast<double>(n - k + 1), p);
}

double clopper_pearson_upper(int64_t k, int64_t n, double significance) {
  if (k >= n) return 1.0;
  return incomplete_beta_inverse(static_cast<double>(k + 1), static_cast<double>(n - k),
                                 1 - significance);
}

double gaussian_sigma_for(double epsilon, double delta) {
  auto delta_of = [&](double sigma) {
    return privacy::normal_cdf(0.5 / sigma - epsilon * sigma) -
           std::exp(epsilon) * privacy::normal_cdf(-0.5 / sigma - epsilon * sigma);
  };
  double low = 1e-6, high = 1.0;
  while (delta_of(high) > delta) high *= 2;  // δ decreases in σ
  for (int i = 0; i < 200 && high - low > 1e-13 * high; ++i) {
    const double middle = 0.5 * (low + high);
    (delta_of(middle) > delta ? low : high) = middle;
  }
  return high;
}

}  // namespace dpforge::audit
