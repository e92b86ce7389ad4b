// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/pld.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include <torch/torch.h>

#include "dpforge/privacy/log_math.h"

namespace dpforge::privacy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxGridPoints = int64_t{1} << 22;

struct GridTooLarge : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double sf(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }   // Φ̄
double cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }  // Φ

// P[a < X ≤ b] for X ~ N(mean, σ²), evaluated in whichever tail keeps it accurate.
double normal_interval(double a, double b, double mean, double sigma) {
  if (!(b > a)) return 0.0;
  const double za = (a - mean) / sigma, zb = (b - mean) / sigma;
  if (za >= 0) return std::max(0.0, sf(za) - sf(zb));
  if (zb <= 0) return std::max(0.0, cdf(zb) - cdf(za));
  return std::max(0.0, 1.0 - cdf(za) - sf(zb));
}

// One step of the sampled Gaussian in the coordinates of its privacy loss L: the event {L > ε} is
// {x > t(ε)} (remove) or {x < t(ε)} (add) for a threshold t on the Gaussian output.
struct SampledGaussian {
  double q, sigma;
  PldDirection direction;

  // remove: t = σ² log((e^ε − 1 + q)/q) + ½; add: t = σ² log((e^{−ε} − 1 + q)/q) + ½.
  double threshold(double epsilon) const {
    const double e = direction == PldDirection::kRemove ? epsilon : -epsilon;
    const double inner = std::expm1(e) + q;
    if (inner <= 0) return direction == PldDirection::kRemove ? -kInf : -kInf;
    return sigma * sigma * (std::log(inner) - std::log(q)) + 0.5;
  }

  // P and Q masses of {L > ε}. remove: P = (1−q)N(0) + qN(1), Q = N(0); add: swapped.
  std::pair<double, double> greater(double epsilon) const {
    const double t = threshold(epsilon);
    if (direction == PldDirection::kRemove) {
      if (t == -kInf) return {1.0, 1.0};
      return {(1 - q) * sf(t / sigma) + q * sf((t - 1) / sigma), sf(t / sigma)};
    }
    if (t == -kInf) return {0.0, 0.0};
    return {cdf(t / sigma), (1 - q) * cdf(t / sigma) + q * cdf((t - 1) / sigma)};
  }

  // P and Q masses of {ε_a < L ≤ ε_b}.
  std::pair<double, double> interval(double epsilon_a, double epsilon_b) const {
    const double ta = threshold(epsilon_a), tb = threshold(epsilon_b);
    if (direction == PldDirection::kRemove) {  // x ∈ (ta, tb]
      const double n0 = normal_interval(ta, tb, 0, sigma), n1 = normal_interval(ta, tb, 1, sigma);
      return {(1 - q) * n0 + q * n1, n0};
    }
    const double n0 = normal_interval(tb, ta, 0, sigma), n1 = normal_interval(tb, ta, 1, sigma);
    return {n0, (1 - q) * n0 + q * n1};  // x ∈ (tb, ta]
  }

  double delta(double epsilon) const {
    const double t = threshold(epsilon);
    const double u = std::exp(epsilon);
    if (direction == PldDirection::kRemove) {
      if (t == -kInf) return -std::expm1(epsilon);  // every output: P(Ω) − e^ε Q(Ω)
      return std::max(0.0, q * sf((t - 1) / sigma) - (std::expm1(epsilon) + q) * sf(t / sigma));
    }
    if (t == -kInf) return 0.0;  // L ≤ −log(1−q) < ε
    return std::max(0.0, (1 - u * (1 - q)) * cdf(t / sigma) - u * q * cdf((t - 1) / sigma));
  }

  // Smallest grid-friendly ε with δ(ε) ≤ tail.
  double upper_cut(double tail) const {
    if (direction == PldDirection::kAdd && q < 1) return -std::log1p(-q);
    double high = 1;
    while (delta(high) > tail) {
      high *= 2;
      if (high > 1e6) throw std::domain_error("PLD: privacy loss range exceeds 1e6");
    }
    double low = 0;
    for (int i = 0; i < 60; ++i) {
      const double middle = 0.5 * (low + high);
      (delta(middle) > tail ? low : high) = middle;
    }
    return high;
  }
};

// log Σᵢ pᵢ e^{λℓᵢ} over the finite part.
double log_mgf(const DiscretePld& pld, double lambda) {
  double best = -kInf;
  for (size_t i = 0; i < pld.pmf.size(); ++i) {
    if (pld.pmf[i] > 0) {
      best = std::max(best, std::log(pld.pmf[i]) + lambda * pld.interval * static_cast<double>(pld.lower_index + static_cast<int64_t>(i)));
    }
  }
  if (best == -kInf) return -kInf;
  double sum = 0;
  for (size_t i = 0; i < pld.pmf.size(); ++i) {
    if (pld.pmf[i] > 0) {
      sum += std::exp(std::log(pld.pmf[i]) + lambda * pld.interval * static_cast<double>(pld.lower_index + static_cast<int64_t>(i)) - best);
    }
  }
  return best + std::log(sum);
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
  // S2 = Σ_{k>i} p_k e^{ℓᵢ−ℓ_k} (kept scaled to ℓᵢ so nothing overflows).
  double s1 = 0, s2 = 0;
  for (int64_t i = static_cast<int64_t>(pmf.size()) - 1; i >= 0; --i) {
    const double loss = interval * static_cast<double>(lower_index + i);
    if (i + 1 < static_cast<int64_t>(pmf.size())) {
      s2 = (s2 + pmf[static_cast<size_t>(i + 1)]) * std::exp(-interval);
      s1 += pmf[static_cast<size_t>(i + 1)];
    }
    const double at_loss = infinity_mass + s1 - s2;
    if (at_loss > delta) {
      // Between ℓᵢ and ℓᵢ₊₁ no term switches on: δ(ε) = ω(∞) + S1 − e^{ε−ℓᵢ} S2.
      return std::max(0.0, loss + std::log((infinity_mass + s1 - delta) / s2));
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
  if (n + 1 > kMaxGridPoints) throw GridTooLarge("PLD grid too fine for the loss range");
  pld.pmf.assign(static_cast<size_t>(n + 1), 0.0);

  auto epsilon_at = [&](int64_t i) { return interval * static_cast<double>(pld.lower_index + i); };
  // Everything at or below ε₀ is moved up to ε₀ (its Q-excess goes to L = −∞, irrelevant for δ).
  pld.pmf[0] = 1.0 - mechanism.greater(epsilon_at(0)).first;
  // Connect the dots: the mass of (εⱼ, εⱼ₊₁] is split between the two ends so that P and Q mass
  // are both kept: to εⱼ₊₁ goes (P − uⱼQ)/(1 − e^{−Δ}), to εⱼ goes (uⱼ₊₁Q − P)/(e^Δ − 1), u = e^ε.
  const double to_upper = -std::expm1(-interval), to_lower = std::expm1(interval);
  for (int64_t j = 0; j < n; ++j) {
    const double ej = epsilon_at(j), ej1 = epsilon_at(j + 1);
    const auto [p, q] = mechanism.interval(ej, ej1);
    if (p == 0 && q == 0) continue;
    pld.pmf[static_cast<size_t>(j + 1)] += std::max(0.0, (p - std::exp(ej) * q) / to_upper);
    pld.pmf[static_cast<size_t>(j)] += std::max(0.0, (std::exp(ej1) * q - p) / to_lower);
  }
  const double top = epsilon_at(n);
  pld.pmf[static_cast<size_t>(n)] += std::exp(top) * mechanism.greater(top).second;
  pld.infinity_mass = mechanism.delta(top);
  return pld;
}

DiscretePld compose(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                    double tail_mass) {
  if (parts.empty()) throw std::invalid_argument("compose: nothing to compose");
  const double interval = parts.front().first->interval;
  double survive_infinity = 1.0;  // Π (1 − ω(∞))^count
  int64_t offset = 0, low_support = 0, high_support = 0;
  for (const auto& [pld, count] : parts) {
    if (pld->interval != interval) throw std::invalid_argument("compose: PLDs on different grids");
    survive_infinity *= std::pow(1.0 - pld->infinity_mass, static_cast<double>(count));
    offset += count * pld->lower_index;
    low_support += count * pld->lower_index;
    high_support += count * (pld->lower_index + static_cast<int64_t>(pld->pmf.size()) - 1);
  }
  // Chernoff: P[ΣL ≥ U] ≤ e^{−λU} Π M(λ)^count, P[ΣL ≤ L₀] ≤ e^{λL₀} Π M(−λ)^count.
  double upper = interval * static_cast<double>(high_support);
  double lower = interval * static_cast<double>(low_support);
  const double log_tail = std::log(tail_mass);
  for (double lambda = 1e-3; lambda <= 1e4; lambda *= 1.25) {
    double up = 0, down = 0;
    for (const auto& [pld, count] : parts) {
      up += static_cast<double>(count) * log_mgf(*pld, lambda);
      down += static_cast<double>(count) * log_mgf(*pld, -lambda);
    }
    upper = std::min(upper, (up - log_tail) / lambda);
    lower = std::max(lower, -(down - log_tail) / lambda);
  }
  const int64_t window_low = static_cast<int64_t>(std::floor(lower / interval));
  const int64_t window_high = static_cast<int64_t>(std::ceil(upper / interval));
  const int64_t width = window_high - window_low + 1;
  if (width > kMaxGridPoints) throw GridTooLarge("PLD composition window too large");
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
    result.pmf[static_cast<size_t>(s - window_low)] = std::max(0.0, data[position]);
  }
  // Mass beyond the window (≤ tail_mass above it by Chernoff) is charged to +∞; what wrapped
  // around into the window only adds mass, which can only raise δ.
  result.infinity_mass = std::min(1.0, 1.0 - survive_infinity + tail_mass);
  return result;
}

DiscretePld PldAccountant::composed(PldDirection direction) const {
  const double steps = static_cast<double>(std::max<int64_t>(1, this->steps()));
  const double single_tail = 1e-15 / steps, window_tail = 1e-15;
  for (double interval = interval_;; interval *= 2) {
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
    } catch (const GridTooLarge&) {
      if (interval > 1.0) throw std::domain_error("PLD: privacy loss range too large to discretize");
    }
  }
}

double PldAccountant::epsilon(double delta) const {
  if (!(delta > 0 && delta < 1)) throw std::domain_error("delta must lie in (0, 1)");
  double epsilon = 0;
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
  for (auto direction : {PldDirection::kRemove, PldDirection::kAdd}) {
    epsilon = std::max(epsilon, trimmed.composed(direction).epsilon_for_delta(delta));
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
