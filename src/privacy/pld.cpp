// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/pld.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "dpforge/privacy/log_math.h"

namespace dpforge::privacy {
namespace {

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
double checked(double value, const char* what) {
  if (std::isnan(value) || value == kInf) {
    throw std::logic_error(std::string("PLD accountant: non-finite intermediate (") + what + ")");
  }
  return value;
}

double log_sf(double z) { return log_ndtr(-z); }  // log Φ̄
double log_cdf(double z) { return log_ndtr(z); }   // log Φ

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

// One step of the sampled Gaussian in the coordinates of its privacy loss L: the event {L > ε} is
// {x > t(ε)} (remove) or {x < t(ε)} (add) for a threshold t on the Gaussian output. All masses are
// kept as logarithms: at small σ the losses run into the thousands and their Q-masses to e^{−ℓ}.
struct SampledGaussian {
  double q, sigma;
  PldDirection direction;
  double log_q = std::log(q), log_1mq = std::log1p(-q);  // log(1 − q) = −∞ at q = 1

  // remove: t = σ² log((e^ε − 1 + q)/q) + ½; add: t = σ² log((e^{−ε} − 1 + q)/q) + ½; −∞ where
  // the log's argument is ≤ 0 (every output, resp. no output, has a loss above ε).
  double threshold(double epsilon) const {
    const double e = direction == PldDirection::kRemove ? epsilon : -epsilon;
    const double log_inner = log_expm1_plus(e, q);
    if (log_inner == -kInf) return -kInf;
    return sigma * sigma * (log_inner - log_q) + 0.5;
  }

  // log((1−q)e^{n0} + q e^{n1}): the mixture's mass from the two Gaussians' masses.
  double log_mixture(double log_n0, double log_n1) const {
    return log_add(log_1mq + log_n0, log_q + log_n1);
  }

  // P and Q masses of {L > ε}. remove: P = (1−q)N(0) + qN(1), Q = N(0); add: swapped.
  LogMasses greater(double epsilon) const {
    const double t = threshold(epsilon);
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

// The finite part of a PLD as (loss, log mass) pairs, for its cumulant generating function
// K(λ) = log Σᵢ pᵢ e^{λℓᵢ} and K'(λ) (the tilted mean), both without overflow. `bins` > 0 merges
// neighbours into at most that many points (mass-weighted mean loss): a cheap stand-in on which
// to search λ, never to bound with.
struct LossCumulants {
  std::vector<double> loss, log_mass;

  explicit LossCumulants(const DiscretePld& pld, size_t bins = 0) {
    const size_t group = bins == 0 ? 1 : std::max<size_t>(1, (pld.pmf.size() + bins - 1) / bins);
    for (size_t start = 0; start < pld.pmf.size(); start += group) {
      double mass = 0, weighted = 0;
      for (size_t i = start; i < std::min(pld.pmf.size(), start + group); ++i) {
        const double at = pld.interval * static_cast<double>(pld.lower_index + static_cast<int64_t>(i));
        mass += pld.pmf[i];
        weighted += pld.pmf[i] * at;
      }
      if (mass > 0) {
        loss.push_back(weighted / mass);
        log_mass.push_back(std::log(mass));
      }
    }
  }

  // {K(λ), K'(λ)}.
  std::pair<double, double> at(double lambda) const {
    double best = -kInf;
    for (size_t i = 0; i < loss.size(); ++i) best = std::max(best, log_mass[i] + lambda * loss[i]);
    if (best == -kInf) return {-kInf, 0.0};
    double sum = 0, weighted = 0;
    for (size_t i = 0; i < loss.size(); ++i) {
      const double w = std::exp(log_mass[i] + lambda * loss[i] - best);
      sum += w;
      weighted += w * loss[i];
    }
    return {best + std::log(sum), weighted / sum};
  }
};

using CountedCumulants = std::vector<std::pair<LossCumulants, int64_t>>;

// {K(λ), dK/dλ} of ΣL at sign·λ (sign = −1 for the lower tail), K = Σ count·K_part.
std::pair<double, double> total_cumulants(const CountedCumulants& parts, double lambda,
                                          double sign) {
  double k = 0, derivative = 0;
  for (const auto& [part, count] : parts) {
    const auto [k_part, d_part] = part.at(sign * lambda);
    k += static_cast<double>(count) * k_part;
    derivative += static_cast<double>(count) * sign * d_part;
  }
  return {k, derivative};
}

// Chernoff: P[ΣL ≥ U] ≤ tail for U = min_λ (K(λ) − log tail)/λ, K the cumulant generating function
// of ΣL. f(λ) = (K(λ) − log tail)/λ is unimodal on λ > 0 (its derivative has the sign of
// g(λ) = λK′ − K + log tail, and g′ = λK″ ≥ 0), so bisection on the sign of g finds the minimum.
// Any λ gives a valid bound, so λ is searched on the merged stand-in (`coarse`) and the bound is
// evaluated once on the exact masses (`exact`). sign = −1 bounds the lower tail: ΣL ≥ −U'.
double chernoff_edge(const CountedCumulants& coarse, const CountedCumulants& exact,
                     double log_tail, double sign) {
  double low = std::log(1e-12), high = std::log(1e6);  // log λ
  for (int i = 0; i < 60; ++i) {
    const double middle = 0.5 * (low + high);
    const double lambda = std::exp(middle);
    const auto [k, derivative] = total_cumulants(coarse, lambda, sign);
    (lambda * derivative - k + log_tail < 0 ? low : high) = middle;
  }
  const double lambda = std::exp(0.5 * (low + high));
  return checked((total_cumulants(exact, lambda, sign).first - log_tail) / lambda,
                 "Chernoff window");
}

}  // namespace

double DiscretePld::delta_for_epsilon(double epsilon) const {
  double delta = infinity_mass;
  for (size_t i = 0; i < pmf.size(); ++i) {
    const double loss = interval * static_cast<double>(lower_index + static_cast<int64_t>(i));
    if (loss > epsilon) delta += pmf[i] * -std::expm1(epsilon - loss);
  }
  return delta;
}

double DiscretePld::epsilon_for_delta(double delta) const {
  if (infinity_mass > delta) return kInf;
  // Walking down the losses: at ℓᵢ, δ(ℓᵢ) = ω(∞) + S1 − S2 with S1 = Σ_{k>i} p_k and
  // S2 = Σ_{k>i} p_k e^{ℓᵢ−ℓ_k}, kept as log S2 (scaled to ℓᵢ): on a coarse grid e^{−Δ} underflows.
  double s1 = 0, log_s2 = -kInf;
  for (int64_t i = static_cast<int64_t>(pmf.size()) - 1; i >= 0; --i) {
    const double loss = interval * static_cast<double>(lower_index + i);
    if (i + 1 < static_cast<int64_t>(pmf.size())) {
      const double next = pmf[static_cast<size_t>(i + 1)];
      if (next > 0) log_s2 = log_add(log_s2, std::log(next));
      log_s2 -= interval;
      s1 += next;
    }
    const double at_loss = infinity_mass + s1 - std::exp(log_s2);
    if (at_loss > delta) {
      // Between ℓᵢ and ℓᵢ₊₁ no term switches on: δ(ε) = ω(∞) + S1 − e^{ε−ℓᵢ} S2.
      return std::max(0.0, loss + std::log(infinity_mass + s1 - delta) - log_s2);
    }
  }
  return 0.0;
}

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
  DiscretePld pld;
  pld.interval = interval;
  pld.lower_index = static_cast<int64_t>(std::floor(low / interval));
  const int64_t upper_index = static_cast<int64_t>(std::ceil(high / interval));
  const int64_t n = upper_index - pld.lower_index;
  if (n + 1 > kMaxGridPoints) throw GridTooLarge("PLD grid too fine for the loss range", high - low);
  pld.pmf.assign(static_cast<size_t>(n + 1), 0.0);

  auto epsilon_at = [&](int64_t i) { return interval * static_cast<double>(pld.lower_index + i); };
  // Everything at or below ε₀ is moved up to ε₀ (its Q-excess goes to L = −∞, irrelevant for δ).
  pld.pmf[0] = -std::expm1(mechanism.greater(epsilon_at(0)).p);
  // Connect the dots: the mass P of (εⱼ, εⱼ₊₁] (Q-mass Q) is split between the two ends so that P
  // and Q mass are both kept: with r = e^{εⱼ}Q/P ∈ [e^{−Δ}, 1] (dQ/dP = e^{−L} there), the upper end
  // gets P(1 − r)/(1 − e^{−Δ}) and the lower P(r − e^{−Δ})/(1 − e^{−Δ}). r is formed from logs: e^{εⱼ}
  // and Q overflow and underflow together at large losses. Rounding r down only moves mass up,
  // which can only raise δ.
  const double one_minus_shrink = -std::expm1(-interval);
  for (int64_t j = 0; j < n; ++j) {
    const auto [log_p, log_q] = mechanism.interval(epsilon_at(j), epsilon_at(j + 1));
    if (log_p == -kInf) continue;
    const double log_r = std::clamp(checked(epsilon_at(j) + log_q - log_p, "interval ratio"),
                                    -interval, 0.0);
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

DiscretePld compose(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                    double tail_mass) {
  if (parts.empty()) throw std::invalid_argument("compose: nothing to compose");
  const double interval = parts.front().first->interval;
  double survive_infinity = 1.0;  // Π (1 − ω(∞))^count
  int64_t offset = 0, low_support = 0, high_support = 0;
  CountedCumulants exact, coarse;
  for (const auto& [pld, count] : parts) {
    if (pld->interval != interval) throw std::invalid_argument("compose: PLDs on different grids");
    survive_infinity *= std::pow(1.0 - pld->infinity_mass, static_cast<double>(count));
    offset += count * pld->lower_index;
    low_support += count * pld->lower_index;
    high_support += count * (pld->lower_index + static_cast<int64_t>(pld->pmf.size()) - 1);
    exact.emplace_back(LossCumulants(*pld), count);
    coarse.emplace_back(LossCumulants(*pld, 4096), count);
  }
  const double log_tail = std::log(tail_mass);
  const double upper = std::min(interval * static_cast<double>(high_support),
                                chernoff_edge(coarse, exact, log_tail, 1));
  const double lower = std::max(interval * static_cast<double>(low_support),
                                -chernoff_edge(coarse, exact, log_tail, -1));
  if (!(lower / interval > -1e18 && upper / interval < 1e18)) {
    throw GridTooLarge("PLD composition window beyond the integer grid", upper - lower);
  }
  const int64_t window_low = static_cast<int64_t>(std::floor(lower / interval));
  const int64_t window_high = static_cast<int64_t>(std::ceil(upper / interval));
  const int64_t width = window_high - window_low + 1;
  if (width > kMaxGridPoints) throw GridTooLarge("PLD composition window too large", upper - lower);
  int64_t fft_size = 1;
  while (fft_size < width) fft_size *= 2;

  torch::Tensor spectrum;
  for (const auto& [pld, count] : parts) {
    auto values = torch::zeros({fft_size}, torch::kFloat64);
    auto* data = values.data_ptr<double>();
    // Positions are taken modulo the FFT size: the arithmetic of the sum is modular anyway.
    for (size_t i = 0; i < pld->pmf.size(); ++i) data[static_cast<int64_t>(i) % fft_size] += pld->pmf[i];
    auto part = torch::pow(torch::fft::rfft(values), static_cast<double>(count));
    spectrum = spectrum.defined() ? spectrum * part : part;
  }
  const auto composed = torch::fft::irfft(spectrum, fft_size).contiguous();
  const auto* data = composed.data_ptr<double>();

  DiscretePld result;
  result.interval = interval;
  result.lower_index = window_low;
  result.pmf.resize(static_cast<size_t>(width));
  for (int64_t s = window_low; s <= window_high; ++s) {
    const int64_t position = ((s - offset) % fft_size + fft_size) % fft_size;
    // The FFT's round-off leaves values of order 1e-16 below zero where the mass is 0.
    result.pmf[static_cast<size_t>(s - window_low)] =
        std::max(0.0, checked(data[position], "composed pmf"));
  }
  // Mass beyond the window (≤ tail_mass above it by Chernoff) is charged to +∞; what wrapped
  // around into the window only adds mass, which can only raise δ.
  result.infinity_mass = std::min(1.0, 1.0 - survive_infinity + tail_mass);
  return result;
}

DiscretePld PldAccountant::composed(PldDirection direction) const {
  const double steps = static_cast<double>(std::max<int64_t>(1, this->steps()));
  const double single_tail = 1e-15 / steps, window_tail = 1e-15;
  // A coarser grid only loosens the bound (connect-the-dots dominates at any interval), so a loss
  // range too wide for 2^20 points is handled by a coarser interval, without limit.
  double interval = interval_;
  for (int attempt = 0;; ++attempt) {
    try {
      std::vector<DiscretePld> singles;
      singles.reserve(history_.size());
      for (const auto& entry : history_) {
        singles.push_back(sampled_gaussian_pld(entry.sample_rate, entry.noise_multiplier, direction,
                                               interval, single_tail));
      }
      std::vector<std::pair<const DiscretePld*, int64_t>> parts;
      for (size_t i = 0; i < singles.size(); ++i) parts.emplace_back(&singles[i], history_[i].count);
      return privacy::compose(parts, window_tail);
    } catch (const GridTooLarge& too_large) {
      // The window moves a little with the grid: aim for 3/4 of the limit.
      interval = std::max(2 * interval, too_large.loss_range / (0.75 * kMaxGridPoints));
      if (!std::isfinite(interval) || attempt > 60) {
        throw std::domain_error("PLD: privacy loss range too large to discretize");
      }
    }
  }
}

double sampled_gaussian_epsilon(double sample_rate, double noise_multiplier, double delta) {
  if (!(delta > 0 && delta < 1)) throw std::domain_error("delta must lie in (0, 1)");
  if (sample_rate == 0) return 0.0;
  if (noise_multiplier == 0) return kInf;
  double epsilon = 0;
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
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

double PldAccountant::epsilon(double delta) const {
  if (!(delta > 0 && delta < 1)) throw std::domain_error("delta must lie in (0, 1)");
  for (const auto& entry : history_) {
    if (entry.noise_multiplier == 0 && entry.sample_rate > 0) return kInf;
  }
  std::vector<SgmSteps> active;
  for (const auto& entry : history_) {
    if (entry.sample_rate > 0) active.push_back(entry);
  }
  if (active.empty()) return 0.0;
  PldAccountant trimmed(interval_);
  trimmed.history_ = active;
  double epsilon = 0;
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
    const double candidate = trimmed.composed(direction).epsilon_for_delta(delta);  // +∞ is allowed
    if (std::isnan(candidate)) throw std::logic_error("PLD accountant: epsilon is NaN");
    epsilon = std::max(epsilon, candidate);
  }
  // T steps can never be more private than one of them: a composed ε below the exact single-step
  // ε means the numerics lost mass somewhere, and an optimistic ε must never be printed.
  for (const auto& entry : active) {
    const double floor = sampled_gaussian_epsilon(entry.sample_rate, entry.noise_multiplier, delta);
    if (epsilon < floor * (1 - 1e-6) - 1e-9) {
      throw std::logic_error(fmt::format(
          "PLD accountant: composed epsilon {} is below the single-step epsilon {} (q = {}, "
          "sigma = {}): refusing an optimistic answer", epsilon, floor, entry.sample_rate,
          entry.noise_multiplier));
    }
  }
  return epsilon;
}

double PldAccountant::delta(double epsilon) const {
  double delta = 0;
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
    delta = std::max(delta, composed(direction).delta_for_epsilon(epsilon));
  }
  return delta;
}

}  // namespace dpforge::privacy
