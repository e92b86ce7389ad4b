// SPDX-License-Identifier: Apache-2.0
// Numerical primitives of the auditor's hypothesis tests.
#pragma once
#include <cstdint>

namespace dpforge::audit {

/// Regularized incomplete beta I_x(a, b) (continued fraction, modified Lentz; Numerical Recipes
/// §6.4), a, b > 0, x ∈ [0, 1].
double incomplete_beta(double a, double b, double x);

/// x with I_x(a, b) = p (bisection on the monotone I_x; |error| < 1e-14).
double incomplete_beta_inverse(double a, double b, double p);

/// P[X ≥ k] for X ~ Binomial(n, p) = I_p(k, n − k + 1); 1 for k ≤ 0, 0 for k > n.
double binomial_at_least(int64_t k, int64_t n, double p);

/// One-sided Clopper–Pearson upper confidence bound on a binomial rate after k successes in n
/// trials: P[Bin(n, u) ≤ k] = significance, i.e. u = BetaInv(1 − significance; k + 1, n − k); 1 if
/// k = n.
double clopper_pearson_upper(int64_t k, int64_t n, double significance);

/// σ of the Gaussian mechanism (sensitivity 1) that is exactly (ε, δ)-DP (Balle & Wang 2018):
/// Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ) = δ.
double gaussian_sigma_for(double epsilon, double delta);

}  // namespace dpforge::audit
