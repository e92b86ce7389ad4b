// SPDX-License-Identifier: Apache-2.0
// Log-space arithmetic for accountants: probabilities far below the smallest double stay exact.
#pragma once

namespace dpforge::privacy {

/// log(eˣ + eʸ).
double log_add(double log_x, double log_y);

/// log(eˣ − eʸ) for x ≥ y; −∞ when equal. Throws std::domain_error when x < y.
double log_sub(double log_x, double log_y);

/// log Φ(x), Φ the standard normal CDF; accurate in the far left tail (x ≪ −37, where Φ
/// underflows) through the asymptotic series of Mills' ratio.
double log_ndtr(double x);

/// log erfc(x) = log 2 + log Φ(−√2·x).
double log_erfc(double x);

/// Φ(x) and its inverse Φ⁻¹(p) for p ∈ (0, 1) (Acklam's rational approximation refined by one
/// Halley step: relative error ≲ 1e-15).
double normal_cdf(double x);
double normal_quantile(double p);

}  // namespace dpforge::privacy
