// SPDX-License-Identifier: Apache-2.0
// One step of the Poisson-subsampled Gaussian as a privacy loss distribution: its exact δ(ε) and
// ε(δ) in closed form, and its connect-the-dots discretization (pld.h).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "dpforge/privacy/log_math.h"
#include "dpforge/privacy/pld.h"
#include "src/privacy/pld_detail.h"

namespace dpforge::privacy {
namespace {

using pld_detail::checked;
using pld_detail::GridTooLarge;
using pld_detail::kInf;
using pld_detail::kMaxGridPoints;

double log_sf(double z) { return log_ndtr(-z); }  // log Φ̄
double log_cdf(double z) { return log_ndtr(z); }  // log Φ

// log(eᵃ − eᵇ), −∞ where b ≥ a (an empty or rounded-away difference of two tails).
double log_difference(double a, double b) {
  if (!(b < a)) return -kInf;
  return a + std::log(-std::expm1(b - a));
}

// log P[a < X ≤ b] for X ~ N(mean, σ²), evaluated in whichever tail keeps it accurate: a mass of
// e^{-2000} at a loss of 2000 is exactly what δ needs, so nothing may underflow to 0 first.
double log_normal_interval(double a, double b, double mean, double sigma) {
  if (!(b > a)) return -kInf;
  const double za = (a - mean) / sigma, zb = (b - mean) / sigma;
  if (za >= 0) return log_difference(log_sf(za), log_sf(zb));
  if (zb <= 0) return log_difference(log_cdf(zb), log_cdf(za));
  return std::log1p(-(normal_cdf(za) + normal_cdf(-zb)));
}

// log(eᵉ − 1 + q): the remove threshold's numerator, which overflows as written for e > 709.
double log_expm1_plus(double e, double q) {
  if (e > 30) return e + std::log1p((q - 1) * std::exp(-e));
  const double inner = std::expm1(e) + q;
  return inner > 0 ? std::log(inner) : -kInf;
}

// e^{log_a} − e^{log_b} clamped at 0 (rounding may put log_b a hair above log_a).
double positive_difference(double log_a, double log_b) {
  if (log_a == -kInf || !(log_b < log_a)) return 0.0;
  return std::exp(log_a) * -std::expm1(log_b - log_a);
}

struct LogMasses {
  double p, q;  // log P(event), log Q(event)
};

// The replace-one pair's threshold for ε ≥ 0: L(x) = log((1−q) + qk e^{x/σ²}) − log((1−q) + qk
// e^{−x/σ²}), k = e^{−1/(2σ²)}, so u = e^{x/σ²} solves qk u² − (1−q)(e^ε − 1) u − qk e^ε = 0.
// Divided by e^ε, with A = (1−q)(1 − e^{−ε}) and B = 2qk e^{−ε/2}: u = e^ε (A + √(A² + B²))/(2qk),
// every term a logarithm (k underflows at small σ, e^ε overflows at large ε).
double replace_threshold(double epsilon, double sigma, double log_q, double log_1mq) {
  const double half_inverse_variance = 0.5 / (sigma * sigma);
  const double log_a = epsilon == 0 ? -kInf : log_1mq + std::log(-std::expm1(-epsilon));
  const double log_b = std::numbers::ln2 + log_q - half_inverse_variance - 0.5 * epsilon;
  const double top = std::max(log_a, log_b);
  const double a = std::exp(log_a - top), b = std::exp(log_b - top);
  const double log_u = epsilon + top + std::log(a + std::hypot(a, b)) - std::numbers::ln2 - log_q +
                       half_inverse_variance;
  return sigma * sigma * log_u;
}

// One step of the sampled Gaussian in the coordinates of its privacy loss L: the event {L > ε} is
// {x > t(ε)} (remove, replace) or {x < t(ε)} (add) for a threshold t on the Gaussian output. All
// masses are kept as logarithms: at small σ the losses run into the thousands and their Q-masses
// to e^{−ℓ}.
//   remove:  P = (1−q)N(0) + qN(1), Q = N(0);
//   add:     P = N(0), Q = (1−q)N(0) + qN(1);
//   replace: P = (1−q)N(0) + qN(1), Q = (1−q)N(0) + qN(−1) (dp_accounting's REPLACE_ONE; at q = 1
//            the Gaussian of sensitivity 2). Its loss is odd, L(−x) = −L(x): one direction holds
//            both, and t(−ε) = −t(ε).
struct SampledGaussian {
  double q, sigma;
  PldDirection direction;
  double log_q = std::log(q), log_1mq = std::log1p(-q);  // log(1 − q) = −∞ at q = 1

  // remove: t = σ² log((e^ε − 1 + q)/q) + ½; add: t = σ² log((e^{−ε} − 1 + q)/q) + ½; −∞ where
  // the log's argument is ≤ 0 (every output, resp. no output, has a loss above ε).
  double threshold(double epsilon) const {
    if (direction == PldDirection::kReplace) {
      return epsilon < 0 ? -replace_threshold(-epsilon, sigma, log_q, log_1mq)
                         : replace_threshold(epsilon, sigma, log_q, log_1mq);
    }
    const double e = direction == PldDirection::kRemove ? epsilon : -epsilon;
    const double log_inner = log_expm1_plus(e, q);
    if (log_inner == -kInf) return -kInf;
    return sigma * sigma * (log_inner - log_q) + 0.5;
  }

  // log((1−q)e^{n0} + q e^{n1}): the mixture's mass from the two Gaussians' masses.
  double log_mixture(double log_n0, double log_n1) const {
    return log_add(log_1mq + log_n0, log_q + log_n1);
  }

  // P and Q masses of {L > ε}.
  LogMasses greater(double epsilon) const {
    const double t = threshold(epsilon);
    if (direction == PldDirection::kReplace) {
      const double n0 = log_sf(t / sigma);
      return {log_mixture(n0, log_sf((t - 1) / sigma)), log_mixture(n0, log_sf((t + 1) / sigma))};
    }
    if (direction == PldDirection::kRemove) {
      if (t == -kInf) return {0.0, 0.0};
      const double n0 = log_sf(t / sigma);
      return {log_mixture(n0, log_sf((t - 1) / sigma)), n0};
    }
    if (t == -kInf) return {-kInf, -kInf};
    const double n0 = log_cdf(t / sigma);
    return {n0, log_mixture(n0, log_cdf((t - 1) / sigma))};
  }

  // P and Q masses of {ε_a < L ≤ ε_b}.
  LogMasses interval(double epsilon_a, double epsilon_b) const {
    const double ta = threshold(epsilon_a), tb = threshold(epsilon_b);
    if (direction == PldDirection::kReplace) {  // x ∈ (ta, tb]
      const double n0 = log_normal_interval(ta, tb, 0, sigma);
      return {log_mixture(n0, log_normal_interval(ta, tb, 1, sigma)),
              log_mixture(n0, log_normal_interval(ta, tb, -1, sigma))};
    }
    if (direction == PldDirection::kRemove) {  // x ∈ (ta, tb]
      const double n0 = log_normal_interval(ta, tb, 0, sigma);
      return {log_mixture(n0, log_normal_interval(ta, tb, 1, sigma)), n0};
    }
    const double n0 = log_normal_interval(tb, ta, 0, sigma);  // x ∈ (tb, ta]
    return {n0, log_mixture(n0, log_normal_interval(tb, ta, 1, sigma))};
  }

  // δ(ε) = P(L > ε) − e^ε Q(L > ε), each side as a logarithm so e^ε never overflows.
  double delta(double epsilon) const {
    const double t = threshold(epsilon);
    if (direction == PldDirection::kReplace) {
      // (1−q)(1 − e^ε) Φ̄(t/σ) + q Φ̄((t−1)/σ) − e^ε q Φ̄((t+1)/σ); the first term joins the side
      // of its sign.
      const double log_mixed = log_1mq + log_sf(t / sigma);
      double added = log_q + log_sf((t - 1) / sigma);
      double subtracted = epsilon + log_q + log_sf((t + 1) / sigma);
      if (epsilon > 0) {
        subtracted = log_add(subtracted, log_mixed + epsilon + std::log(-std::expm1(-epsilon)));
      } else if (epsilon < 0) {
        added = log_add(added, log_mixed + std::log(-std::expm1(epsilon)));
      }
      return checked(positive_difference(added, subtracted), "replace delta");
    }
    if (direction == PldDirection::kRemove) {
      if (t == -kInf) return -std::expm1(epsilon);  // every output: P(Ω) − e^ε Q(Ω)
      return checked(positive_difference(log_q + log_sf((t - 1) / sigma),
                                         log_expm1_plus(epsilon, q) + log_sf(t / sigma)),
                     "remove delta");
    }
    if (t == -kInf) return 0.0;  // L ≤ −log(1−q) < ε
    // (1 − e^ε(1−q)) Φ(t/σ) − e^ε q Φ((t−1)/σ); t finite ⇔ e^ε(1−q) < 1.
    const double log_coefficient = std::log(-std::expm1(epsilon + log_1mq));
    return checked(positive_difference(log_coefficient + log_cdf(t / sigma),
                                       epsilon + log_q + log_cdf((t - 1) / sigma)),
                   "add delta");
  }

  // Smallest grid-friendly ε with δ(ε) ≤ tail.
  double upper_cut(double tail) const {
    if (direction == PldDirection::kAdd && q < 1) return -std::log1p(-q);
    double high = 1;
    while (delta(high) > tail) {
      high *= 2;
      if (high > 1e9) throw std::domain_error("PLD: privacy loss range exceeds 1e9");
    }
    double low = 0;
    for (int i = 0; i < 60; ++i) {
      const double middle = 0.5 * (low + high);
      (delta(middle) > tail ? low : high) = middle;
    }
    return high;
  }
};

}  // namespace

double sampled_gaussian_delta(double sample_rate, double noise_multiplier, double epsilon,
                              PldDirection direction) {
  return SampledGaussian{sample_rate, noise_multiplier, direction}.delta(epsilon);
}

DiscretePld sampled_gaussian_pld(double sample_rate, double noise_multiplier,
                                 PldDirection direction, double interval, double tail_mass) {
  if (!(sample_rate > 0 && sample_rate <= 1) || !(noise_multiplier > 0) || !(interval > 0)) {
    throw std::domain_error("sampled_gaussian_pld: need q in (0, 1], sigma > 0, interval > 0");
  }
  const SampledGaussian mechanism{sample_rate, noise_multiplier, direction};
  const SampledGaussian remove{sample_rate, noise_multiplier, PldDirection::kRemove};
  const double remove_high = remove.upper_cut(tail_mass);
  const double high = mechanism.upper_cut(tail_mass);
  double low = -remove_high;  // add: the lower tail mirrors the remove direction's upper tail
  if (direction == PldDirection::kRemove && sample_rate < 1) {
    low = std::max(std::log1p(-sample_rate), -remove_high);  // L ≥ log(1 − q)
  }
  if (direction == PldDirection::kReplace) low = -high;  // an odd loss: its tails mirror
  DiscretePld pld;
  pld.interval = interval;
  pld.lower_index = static_cast<int64_t>(std::floor(low / interval));
  const int64_t upper_index = static_cast<int64_t>(std::ceil(high / interval));
  const int64_t n = upper_index - pld.lower_index;
  if (n + 1 > kMaxGridPoints)
    throw GridTooLarge("PLD grid too fine for the loss range", high - low);
  pld.pmf.assign(static_cast<size_t>(n + 1), 0.0);

  auto epsilon_at = [&](int64_t i) { return interval * static_cast<double>(pld.lower_index + i); };
  // Everything at or below ε₀ is moved up to ε₀ (its Q-excess goes to L = −∞, irrelevant for δ).
  pld.pmf[0] = -std::expm1(mechanism.greater(epsilon_at(0)).p);
  // Connect the dots: the mass P of (εⱼ, εⱼ₊₁] (Q-mass Q) is split between the two ends so that P
  // and Q mass are both kept: with r = e^{εⱼ}Q/P ∈ [e^{−Δ}, 1] (dQ/dP = e^{−L} there), the upper
  // end gets P(1 − r)/(1 − e^{−Δ}) and the lower P(r − e^{−Δ})/(1 − e^{−Δ}). r is formed from logs:
  // e^{εⱼ} and Q overflow and underflow together at large losses. Rounding r down only moves mass
  // up, which can only raise δ.
  const double one_minus_shrink = -std::expm1(-interval);
  for (int64_t j = 0; j < n; ++j) {
    const auto [log_p, log_q] = mechanism.interval(epsilon_at(j), epsilon_at(j + 1));
    if (log_p == -kInf) continue;
    const double log_r =
        std::clamp(checked(epsilon_at(j) + log_q - log_p, "interval ratio"), -interval, 0.0);
    const double p = std::exp(log_p);
    pld.pmf[static_cast<size_t>(j + 1)] += p * -std::expm1(log_r) / one_minus_shrink;
    pld.pmf[static_cast<size_t>(j)] += p * positive_difference(log_r, -interval) / one_minus_shrink;
  }
  // Above the top point: e^{top}·Q(L > top) stays at top, the rest, δ(top), goes to +∞.
  const double top = epsilon_at(n);
  pld.pmf[static_cast<size_t>(n)] += std::exp(checked(top + mechanism.greater(top).q, "top mass"));
  pld.infinity_mass = mechanism.delta(top);
  double mass = pld.infinity_mass;
  for (double p : pld.pmf) mass += checked(p, "single-step pmf");
  if (!(std::abs(mass - 1) < 1e-6)) {
    throw std::logic_error("PLD accountant: single-step masses sum to " + std::to_string(mass));
  }
  return pld;
}

std::vector<PldDirection> pld_directions(Adjacency adjacency) {
  if (adjacency == Adjacency::kReplaceOne) return {PldDirection::kReplace};
  return {PldDirection::kRemove, PldDirection::kAdd};
}

double sampled_gaussian_total_variation(double sample_rate, double noise_multiplier,
                                        Adjacency adjacency) {
  if (noise_multiplier == 0) return sample_rate;
  // TV(N(0, σ²), N(s, σ²)) = erf(s/(2√2σ)) with the shift s = 1 (add/remove) or 2 (replace-one).
  const double shift = adjacency == Adjacency::kReplaceOne ? 2.0 : 1.0;
  const double tv = sample_rate * std::erf(shift / (2 * std::numbers::sqrt2 * noise_multiplier));
  return std::min(sample_rate, tv * (1 + 1e-12));
}

double sampled_gaussian_epsilon(double sample_rate, double noise_multiplier, double delta,
                                Adjacency adjacency) {
  if (!(delta > 0 && delta < 1)) throw std::domain_error("delta must lie in (0, 1)");
  if (sample_rate == 0) return 0.0;
  // δ(ε) → TV as ε → 0 and equals it at 0; at small σ the closed form's masses round to within an
  // ulp of q, which would put δ(0) a hair above a δ = q that ε = 0 in truth meets.
  if (delta >= sampled_gaussian_total_variation(sample_rate, noise_multiplier, adjacency)) {
    return 0.0;
  }
  if (noise_multiplier == 0) return kInf;
  double epsilon = 0;
  for (auto direction : pld_directions(adjacency)) {
    const SampledGaussian mechanism{sample_rate, noise_multiplier, direction};
    if (mechanism.delta(0) <= delta) continue;
    double low = 0, high = 1;
    while (mechanism.delta(high) > delta) {
      high *= 2;
      if (high > 1e12) return kInf;
    }
    for (int i = 0; i < 100; ++i) {
      const double middle = 0.5 * (low + high);
      (mechanism.delta(middle) > delta ? low : high) = middle;
    }
    epsilon = std::max(epsilon, high);
  }
  return epsilon;
}

}  // namespace dpforge::privacy
