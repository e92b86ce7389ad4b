// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/pld.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

#include "dpforge/privacy/log_math.h"
#include "src/privacy/pld_detail.h"

namespace dpforge::privacy {
namespace {

using pld_detail::checked;
using pld_detail::GridTooLarge;
using pld_detail::kInf;
using pld_detail::kMaxGridPoints;

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
        const double at =
            pld.interval * static_cast<double>(pld.lower_index + static_cast<int64_t>(i));
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

// {K(τ + sign·λ), dK/dλ} of ΣL (sign = −1 for the lower tail), K = Σ count·K_part. With τ > 0
// these belong to the tilted distribution p(ℓ)e^{τℓ − K(τ)} but for its constant −K(τ), which the
// callers fold into the tail.
std::pair<double, double> total_cumulants(const CountedCumulants& parts, double lambda, double sign,
                                          double tilt = 0) {
  double k = 0, derivative = 0;
  for (const auto& [part, count] : parts) {
    const auto [k_part, d_part] = part.at(tilt + sign * lambda);
    k += static_cast<double>(count) * k_part;
    derivative += static_cast<double>(count) * sign * d_part;
  }
  return {k, derivative};
}

// Below this δ the FFT's round-off on the bulk of a composition (~1e-16 of it per transform, times
// the steps) can reach the masses δ is read from, and the accountant composes tilted, with the
// round-off bound (compose()); above it the plain composition is read, as dp_accounting does: its
// round-off is orders of magnitude below δ there, and the bound, loose by design, would cost ε
// (q = 1e-6, σ = 0.3, 1e5 steps: 9.5 instead of 3.5).
constexpr double kDeepDelta = 1e-9;

// The tilted distribution's tail left outside a composition's window (compose()).
constexpr double kTiltedTail = 1e-6;

// The range of λ searched below (log scale).
constexpr double kLowestLambda = 1e-12, kHighestLambda = 1e6;

// Chernoff: P[ΣL ≥ U] ≤ tail for U = min_λ (K(λ) − log tail)/λ, K the cumulant generating function
// of ΣL. f(λ) = (K(λ) − log tail)/λ is unimodal on λ > 0 (its derivative has the sign of
// g(λ) = λK′ − K + log tail, and g′ = λK″ ≥ 0), so bisection on the sign of g finds the minimum.
// Any λ gives a valid bound, so λ is searched on a merged stand-in. sign = −1: the lower tail.
double chernoff_lambda(const CountedCumulants& coarse, double log_tail, double sign,
                       double tilt = 0) {
  double low = std::log(kLowestLambda), high = std::log(kHighestLambda);  // log λ
  for (int i = 0; i < 60; ++i) {
    const double middle = 0.5 * (low + high);
    const double lambda = std::exp(middle);
    const auto [k, derivative] = total_cumulants(coarse, lambda, sign, tilt);
    (lambda * derivative - k + log_tail < 0 ? low : high) = middle;
  }
  return std::exp(0.5 * (low + high));
}

// U of the Chernoff bound above, evaluated once on the exact masses (`exact`).
double chernoff_edge(const CountedCumulants& coarse, const CountedCumulants& exact, double log_tail,
                     double sign, double tilt = 0) {
  const double lambda = chernoff_lambda(coarse, log_tail, sign, tilt);
  return checked((total_cumulants(exact, lambda, sign, tilt).first - log_tail) / lambda,
                 "Chernoff window");
}

// The tilt whose tilted mean K′(λ) is ε (the saddle point of e^{K(λ) − λε}); 0 when ε is at or
// below the untilted mean.
double saddle_lambda(const CountedCumulants& coarse, double epsilon) {
  if (total_cumulants(coarse, 0, 1).second >= epsilon) return 0;
  double low = std::log(kLowestLambda), high = std::log(kHighestLambda);
  for (int i = 0; i < 60; ++i) {
    const double middle = 0.5 * (low + high);
    (total_cumulants(coarse, std::exp(middle), 1).second < epsilon ? low : high) = middle;
  }
  return std::exp(0.5 * (low + high));
}

// Relative ‖·‖₂ error of a length-n FFT in floating point, at most c·log₂(n)·u (Higham, Accuracy
// and Stability of Numerical Algorithms, §24.1: c ≈ 7 for radix 2 with accurate twiddle factors);
// 16 leaves room for the mixed-radix transforms of the library's FFT.
constexpr double kFftErrorConstant = 16;
constexpr double kUnitRoundoff = std::numeric_limits<double>::epsilon() / 2;

// The finite masses tilted and normalized, pⱼe^{λℓⱼ}/M(λ), and log M(λ) = log Σⱼ pⱼe^{λℓⱼ}
// (0 when there are none): in logs, as e^{λℓ} overflows where the masses underflow.
std::vector<double> tilted_masses(const DiscretePld& pld, double tilt, double& log_mass) {
  std::vector<double> tilted(pld.pmf.size(), 0.0);
  double total = 0;
  log_mass = 0;  // no finite mass: nothing to scale
  if (tilt == 0) {
    for (const double p : pld.pmf) total += std::max(0.0, p);
    if (!(total > 0)) return tilted;
    for (size_t j = 0; j < tilted.size(); ++j) tilted[j] = std::max(0.0, pld.pmf[j]) / total;
    log_mass = std::log(total);
    return tilted;
  }
  double top = -kInf;
  for (size_t j = 0; j < tilted.size(); ++j) {
    tilted[j] = pld.pmf[j] > 0 ? std::log(pld.pmf[j]) + tilt * pld.loss(j) : -kInf;
    top = std::max(top, tilted[j]);
  }
  if (top == -kInf) return std::vector<double>(tilted.size(), 0.0);
  for (double& value : tilted) total += (value = std::exp(value - top));
  for (double& value : tilted) value /= total;
  log_mass = top + std::log(total);
  return tilted;
}

}  // namespace

DiscretePld compose(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                    double tail_mass, double tilt) {
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
  // The tilted masses should fit too. What lies beyond the window wraps around (circular
  // convolution), which only adds mass, so δ only rises; but it lands at the window's bottom,
  // where untilting multiplies it up, and a pile of it there costs accuracy. Far below any ε read
  // here, a 1e-6 tilted tail costs nothing measurable and keeps the window (and grid) small.
  double upper_edge = chernoff_edge(coarse, exact, log_tail, 1);
  if (tilt > 0) {  // P̃ ≤ e^{K(τ+μ) − K(τ) − μU}: the tilted tail's log plus K(τ), untilted
    const double log_tilted_tail = std::log(kTiltedTail) + total_cumulants(exact, 0, 1, tilt).first;
    upper_edge = std::max(upper_edge, chernoff_edge(coarse, exact, log_tilted_tail, 1, tilt));
  }
  const double upper = std::min(interval * static_cast<double>(high_support), upper_edge);
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

  // Each part tilted and normalized, p(ℓ)e^{λℓ}/M(λ): the tilted composition is the composition
  // of the tilted parts, and untilting multiplies its mass at ℓ by e^{Σ count·log M − λℓ}.
  // Round-off, in the ‖·‖₂ of the tilted masses (DiscretePld): the forward FFT errs by at most
  // c·log₂(n)·u‖x̃‖₂ per part (scaled to the normalized spectrum), raising a coefficient z (|z| ≤ 1)
  // to the count multiplies its error by at most count and adds (π + 1)·count·u, the product of the
  // parts adds their errors, and the inverse FFT adds c·log₂(n)·u; doubled for the rfft's half
  // spectrum and second-order terms.
  const double fft_error =
      kFftErrorConstant * std::log2(static_cast<double>(fft_size)) * kUnitRoundoff;
  double log_scale = 0, roundoff = fft_error;
  torch::Tensor spectrum;
  for (const auto& [pld, count] : parts) {
    auto values = torch::zeros({fft_size}, torch::kFloat64);
    auto* data = values.data_ptr<double>();
    double log_mass = 0, squares = 0;
    const auto tilted = tilted_masses(*pld, tilt, log_mass);
    // Positions are taken modulo the FFT size: the arithmetic of the sum is modular anyway.
    for (size_t i = 0; i < tilted.size(); ++i) {
      data[static_cast<int64_t>(i) % fft_size] += tilted[i];
      squares += tilted[i] * tilted[i];
    }
    const double n = static_cast<double>(count);
    log_scale += n * log_mass;
    roundoff += n * (fft_error * std::sqrt(squares) + (std::numbers::pi + 1) * kUnitRoundoff) +
                2 * kUnitRoundoff;
    auto part = torch::pow(torch::fft::rfft(values), n);
    spectrum = spectrum.defined() ? spectrum * part : part;
  }
  const auto composed = torch::fft::irfft(spectrum, fft_size).contiguous();
  const auto* data = composed.data_ptr<double>();

  DiscretePld result;
  result.interval = interval;
  result.lower_index = window_low;
  result.roundoff = tilt > 0 ? 2 * roundoff : 0.0;
  result.tilt = tilt;
  result.log_scale = checked(log_scale, "tilted scale");
  result.pmf.resize(static_cast<size_t>(width));
  for (int64_t s = window_low; s <= window_high; ++s) {
    const int64_t position = ((s - offset) % fft_size + fft_size) % fft_size;
    const double tilted = checked(data[position], "composed pmf");
    // Round-off leaves values a hair below zero where the mass is 0; no mass exceeds 1. Either
    // clamp only moves a value toward the truth, so the round-off bound still holds.
    const auto at = static_cast<size_t>(s - window_low);
    if (!(tilted > 0)) continue;
    result.pmf[at] =
        tilt == 0 ? std::min(1.0, tilted * std::exp(log_scale))
                  : std::exp(std::min(0.0, std::log(tilted) + log_scale - tilt * result.loss(at)));
  }
  // Mass beyond the window (≤ tail_mass above it by Chernoff) is charged to +∞; what wrapped
  // around into the window only adds mass, which can only raise δ.
  result.infinity_mass = std::min(1.0, 1.0 - survive_infinity + tail_mass);
  return result;
}

// The tilt of a query (PldAccountant::Query); the cumulants it needs only when it tilts, since the
// plain composition is the common case of every ε and δ.
double PldAccountant::tilt_for(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                               Query query, double at) {
  if (query == Query::kUntilted) return 0;
  CountedCumulants coarse;
  for (const auto& [pld, count] : parts) coarse.emplace_back(LossCumulants(*pld, 4096), count);
  return query == Query::kEpsilonAtDelta ? chernoff_lambda(coarse, std::log(at), 1)
                                         : saddle_lambda(coarse, at);
}

DiscretePld PldAccountant::composed(PldDirection direction, Query query, double at) const {
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
      for (size_t i = 0; i < singles.size(); ++i)
        parts.emplace_back(&singles[i], history_[i].count);
      return privacy::compose(parts, window_tail, tilt_for(parts, query, at));
    } catch (const GridTooLarge& too_large) {
      // The window moves a little with the grid: aim for 3/4 of the limit.
      interval = std::max(2 * interval, too_large.loss_range / (0.75 * kMaxGridPoints));
      if (!std::isfinite(interval) || attempt > 60) {
        throw std::domain_error("PLD: privacy loss range too large to discretize");
      }
    }
  }
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
  // The composition's total variation is at most 1 − Π(1 − TVᵢ) (couple each step maximally): at a
  // δ at or above it, ε = 0 exactly, where the numerics would return a rounding error's worth.
  double log_untouched = 0;
  for (const auto& entry : active) {
    log_untouched += static_cast<double>(entry.count) *
                     std::log1p(-sampled_gaussian_total_variation(
                         entry.sample_rate, entry.noise_multiplier, adjacency()));
  }
  if (delta >= -std::expm1(log_untouched)) return 0.0;  // each TVᵢ is already rounded up
  PldAccountant trimmed(interval_, adjacency());
  trimmed.history_ = active;
  double epsilon = 0;
  for (auto direction : pld_directions(adjacency())) {
    const auto query = delta < kDeepDelta ? Query::kEpsilonAtDelta : Query::kUntilted;
    const double candidate =  // +∞ is allowed
        trimmed.composed(direction, query, delta).epsilon_for_delta(delta);
    if (std::isnan(candidate)) throw std::logic_error("PLD accountant: epsilon is NaN");
    epsilon = std::max(epsilon, candidate);
  }
  // T steps can never be more private than one of them: a composed ε below the exact single-step
  // ε means the numerics lost mass somewhere, and an optimistic ε must never be printed.
  for (const auto& entry : active) {
    const double floor =
        sampled_gaussian_epsilon(entry.sample_rate, entry.noise_multiplier, delta, adjacency());
    if (epsilon < floor * (1 - 1e-6) - 1e-9) {
      throw std::logic_error(fmt::format(
          "PLD accountant: composed epsilon {} is below the single-step epsilon {} (q = {}, "
          "sigma = {}): refusing an optimistic answer",
          epsilon, floor, entry.sample_rate, entry.noise_multiplier));
    }
  }
  return epsilon;
}

double PldAccountant::delta(double epsilon) const {
  if (!(epsilon >= 0)) throw std::domain_error("epsilon must be >= 0");
  std::vector<SgmSteps> active;
  for (const auto& entry : history_) {
    // A sampled step without noise publishes its examples: no finite ε holds below δ = 1.
    if (entry.noise_multiplier == 0 && entry.sample_rate > 0) return 1.0;
    if (entry.sample_rate > 0) active.push_back(entry);
  }
  if (active.empty()) return 0.0;
  PldAccountant trimmed(interval_, adjacency());
  trimmed.history_ = active;
  double delta = 0;
  for (auto direction : pld_directions(adjacency())) {
    double candidate =
        trimmed.composed(direction, Query::kUntilted, epsilon).delta_for_epsilon(epsilon);
    if (candidate < kDeepDelta) {  // read where the plain composition's round-off may reach
      candidate =
          trimmed.composed(direction, Query::kDeltaAtEpsilon, epsilon).delta_for_epsilon(epsilon);
    }
    if (std::isnan(candidate)) throw std::logic_error("PLD accountant: delta is NaN");
    delta = std::max(delta, candidate);
  }
  // As for ε: T steps are never more private than one of them, whose δ(ε) is exact.
  for (const auto& entry : active) {
    double floor = 0;
    for (auto direction : pld_directions(adjacency())) {
      floor = std::max(floor, sampled_gaussian_delta(entry.sample_rate, entry.noise_multiplier,
                                                     epsilon, direction));
    }
    if (delta < floor * (1 - 1e-6) - 1e-12) {
      throw std::logic_error(fmt::format(
          "PLD accountant: composed delta {} is below the single-step delta {} (q = {}, sigma = "
          "{}): refusing an optimistic answer",
          delta, floor, entry.sample_rate, entry.noise_multiplier));
    }
    delta = std::max(delta, floor);
  }
  return std::min(1.0, delta);
}

}  // namespace dpforge::privacy
