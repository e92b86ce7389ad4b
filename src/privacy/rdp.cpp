// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/rdp.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>

#include "dpforge/privacy/log_math.h"

namespace dpforge::privacy {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
// The absolute round-off of a computed log A_α (a few ulps of A_α ≈ 1; the fractional series
// sums signed terms).
constexpr double kRdpRoundOff = 1e-14;

// log A_α for integer α: the binomial expansion. A_α = 1 + Σ_{k≥2} C(α,k) q^k (1−q)^{α−k}
// (e^{(k²−k)/2σ²} − 1), every term of the sum positive, so A_α − 1 is summed on its own: summing
// A_α itself leaves a rounding error of an ulp of 1, which at tiny q/σ (A_α − 1 ~ 1e-16) would read
// as A_α = 1, i.e. a divergence of 0 and an optimistic ε = 0 (issue 40 item 4).
double log_a_integer(double q, double sigma, int64_t alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double inv_two_sigma2 = 1.0 / (2 * sigma * sigma);
  double log_excess = -kInfinity;                           // log(A_α − 1)
  double log_binom = std::log(static_cast<double>(alpha));  // log C(α, 1)
  for (int64_t k = 2; k <= alpha; ++k) {
    log_binom += std::log(static_cast<double>(alpha - k + 1)) - std::log(static_cast<double>(k));
    const double kd = static_cast<double>(k);
    const double exponent = (kd * kd - kd) * inv_two_sigma2;
    const double log_growth = exponent > 30 ? exponent + std::log(-std::expm1(-exponent))
                                            : std::log(std::expm1(exponent));
    const double term =
        log_binom + kd * log_q + static_cast<double>(alpha - k) * log_1mq + log_growth;
    log_excess = log_add(log_excess, term);
  }
  return log_excess < 0 ? std::log1p(std::exp(log_excess)) : log_add(0.0, log_excess);
}

// log A_α for fractional α ([MTZ] §3.3): with z₀ = σ² log(1/q − 1) + ½,
//   A_α = Σ_i C(α,i) [ q^i (1−q)^{α−i} e^{(i²−i)/2σ²} ½erfc((i−z₀)/(√2σ))
//                     + q^{α−i} (1−q)^i e^{(j²−j)/2σ²} ½erfc((z₀−j)/(√2σ)) ],  j = α − i.
// C(α,i) changes sign for i > α + 1; the signed sum is kept in log space per half.
double log_a_fractional(double q, double sigma, double alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double two_sigma2 = 2 * sigma * sigma;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  const double log_half = std::log(0.5);
  double log_a0 = -kInfinity, log_a1 = -kInfinity;
  const double lgamma_alpha1 = std::lgamma(alpha + 1);
  for (int64_t i = 0;; ++i) {
    const double id = static_cast<double>(i);
    const double j = alpha - id;
    int sign = 1;
    const double lgamma_j1 = lgamma_r(j + 1, &sign);  // Γ(α−i+1) < 0 gives a negative C(α,i)
    const double log_coef = lgamma_alpha1 - std::lgamma(id + 1) - lgamma_j1;
    const double log_t0 = log_coef + id * log_q + j * log_1mq;
    const double log_t1 = log_coef + j * log_q + id * log_1mq;
    const double log_e0 = log_half + log_erfc((id - z0) / (std::numbers::sqrt2 * sigma));
    const double log_e1 = log_half + log_erfc((z0 - j) / (std::numbers::sqrt2 * sigma));
    const double log_s0 = log_t0 + (id * id - id) / two_sigma2 + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / two_sigma2 + log_e1;
    if (sign > 0) {
      log_a0 = log_add(log_a0, log_s0);
      log_a1 = log_add(log_a1, log_s1);
    } else {
      log_a0 = log_sub(log_a0, log_s0);
      log_a1 = log_sub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < -30 || i > 100000) break;
  }
  return log_add(log_a0, log_a1);
}

}  // namespace

std::vector<double> default_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 11; a < 64; ++a) orders.push_back(a);
  for (double a : {128.0, 256.0, 512.0, 1024.0}) orders.push_back(a);
  return orders;
}

std::vector<double> opacus_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

double rdp_sampled_gaussian(double sample_rate, double noise_multiplier, double order) {
  if (!(sample_rate >= 0 && sample_rate <= 1))
    throw std::domain_error("sample_rate must lie in [0, 1]");
  if (!(noise_multiplier >= 0)) throw std::domain_error("noise_multiplier must be >= 0");
  if (!(order > 1)) throw std::domain_error("RDP order must be > 1");
  if (sample_rate == 0) return 0;
  if (noise_multiplier == 0 || std::isinf(order)) return kInfinity;
  if (sample_rate == 1) return order / (2 * noise_multiplier * noise_multiplier);
  const double log_a =
      order == std::floor(order) && order < 1e7
          ? log_a_integer(sample_rate, noise_multiplier, static_cast<int64_t>(order))
          : log_a_fractional(sample_rate, noise_multiplier, order);
  // An RDP value of +∞ at one order is honest (that order gives no bound); NaN is a lost term.
  if (std::isnan(log_a))
    throw std::logic_error("RDP accountant: NaN at order " + std::to_string(order));
  return log_a / (order - 1);
}

std::string to_string(RdpConversion conversion) {
  return conversion == RdpConversion::kImproved ? "improved (Balle et al. 2020)"
                                                : "classic (Mironov 2017)";
}

EpsilonAndOrder rdp_to_epsilon(std::span<const double> orders, std::span<const double> rdp,
                               double delta, RdpConversion conversion) {
  if (orders.size() != rdp.size() || orders.empty()) {
    throw std::invalid_argument(
        "rdp_to_epsilon: orders and rdp must be non-empty and equally long");
  }
  if (!(delta > 0 && delta < 1)) throw std::domain_error("delta must lie in (0, 1)");
  EpsilonAndOrder best{kInfinity, orders[0]};
  for (size_t i = 0; i < orders.size(); ++i) {
    const double alpha = orders[i], r = rdp[i];
    if (!(alpha > 1)) throw std::domain_error("RDP orders must be > 1");
    if (std::isnan(r)) throw std::logic_error("RDP accountant: NaN in the RDP curve");
    double epsilon;
    if (conversion == RdpConversion::kClassic) {
      epsilon = r - std::log(delta) / (alpha - 1);
    } else if (delta * delta + std::expm1(-(r + kRdpRoundOff / (alpha - 1))) > 0) {
      // δ ≥ √(1 − e^{−KL}) already: the pair is (0, δ)-DP. r is raised by its round-off first:
      // an ulp of log A_α at tiny q/σ must not decide that ε = 0.
      epsilon = 0;
    } else if (alpha > 1.01) {
      epsilon = r + std::log1p(-1 / alpha) - std::log(delta * alpha) / (alpha - 1);
    } else {
      epsilon = kInfinity;  // the bound is numerically unstable this close to α = 1
    }
    if (epsilon < best.epsilon) best = {epsilon, alpha};
  }
  best.epsilon = std::max(0.0, best.epsilon);
  return best;
}

double rdp_to_delta(std::span<const double> orders, std::span<const double> rdp, double epsilon) {
  if (orders.size() != rdp.size() || orders.empty()) {
    throw std::invalid_argument("rdp_to_delta: orders and rdp must be non-empty and equally long");
  }
  double log_delta = 0;  // δ ≤ 1 always
  for (size_t i = 0; i < orders.size(); ++i) {
    const double alpha = orders[i], r = rdp[i];
    if (alpha <= 1.01 || std::isinf(r)) continue;
    const double candidate = (alpha - 1) * (r - epsilon + std::log1p(-1 / alpha)) - std::log(alpha);
    log_delta = std::min(log_delta, candidate);
  }
  return std::exp(log_delta);
}

}  // namespace dpforge::privacy
