// SPDX-License-Identifier: Apache-2.0
// Reading a discrete PLD: δ(ε) and its exact inverse ε(δ), each with the composition's round-off
// bound (pld.h, DiscretePld).
#include <algorithm>
#include <cmath>

#include "dpforge/privacy/log_math.h"
#include "dpforge/privacy/pld.h"
#include "src/privacy/pld_detail.h"

namespace dpforge::privacy {
namespace {

using pld_detail::kInf;

// log Σ_{k ≥ first} f_k² of DiscretePld's round-off bound, f_k = e^{log_scale − λℓ_k}: a geometric
// series of ratio e^{−2λΔ} (m terms at λ = 0). −∞ when empty.
double log_error_sum(const DiscretePld& pld, size_t first) {
  if (first >= pld.pmf.size()) return -kInf;
  const double terms = static_cast<double>(pld.pmf.size() - first);
  const double step = -2 * pld.tilt * pld.interval;  // log of the ratio
  const double log_series =
      step == 0 ? std::log(terms) : std::log(std::expm1(step * terms) / std::expm1(step));
  return 2 * (pld.log_scale - pld.tilt * pld.loss(first)) + log_series;
}

}  // namespace

double DiscretePld::delta_for_epsilon(double epsilon) const {
  double delta = infinity_mass;
  size_t first_above = pmf.size();
  for (size_t i = pmf.size(); i-- > 0 && loss(i) > epsilon;) {
    delta += pmf[i] * -std::expm1(epsilon - loss(i));
    first_above = i;
  }
  if (roundoff > 0) delta += roundoff * std::exp(0.5 * log_error_sum(*this, first_above));
  return std::min(1.0, delta);
}

double DiscretePld::epsilon_for_delta(double delta) const {
  if (infinity_mass > delta) return kInf;
  // Walking down the losses: at ℓᵢ, δ(ℓᵢ) = ω(∞) + S1 − S2 with S1 = Σ_{k>i} p_k and
  // S2 = Σ_{k>i} p_k e^{ℓᵢ−ℓ_k}, kept as log S2 (scaled to ℓᵢ): on a coarse grid e^{−Δ} underflows.
  // The round-off term R (the header's bound over the masses above ℓᵢ) is constant there too.
  // R(ℓᵢ) grows as i falls, so R at the bottom of a block of bins bounds it over the block: it is
  // evaluated bin by bin only where that bound could cross delta.
  auto error_above = [&](size_t at) {
    return roundoff > 0 ? roundoff * std::exp(0.5 * log_error_sum(*this, at + 1)) : 0.0;
  };
  constexpr size_t kErrorBlock = 1024;
  size_t block_bottom = pmf.size();
  double block_error = 0;
  double s1 = 0, log_s2 = -kInf;
  for (int64_t i = static_cast<int64_t>(pmf.size()) - 1; i >= 0; --i) {
    const auto at = static_cast<size_t>(i);
    if (at + 1 < pmf.size()) {
      const double next = pmf[at + 1];
      if (next > 0) log_s2 = log_add(log_s2, std::log(next));
      log_s2 -= interval;
      s1 += next;
    }
    const double without_error = infinity_mass + s1 - std::exp(log_s2);
    if (at < block_bottom) {
      block_bottom = at >= kErrorBlock ? at - kErrorBlock : 0;
      block_error = error_above(block_bottom);
    }
    if (without_error + block_error <= delta) continue;
    const double error = error_above(at);
    if (without_error + error > delta) {
      // Between ℓᵢ and ℓᵢ₊₁ no term switches on: δ(ε) = ω(∞) + S1 + R − e^{ε−ℓᵢ} S2. R only
      // shrinks at ℓᵢ₊₁, where δ ≤ delta held: the answer is never above it.
      const double epsilon = loss(at) + std::log(infinity_mass + s1 + error - delta) - log_s2;
      return std::clamp(epsilon, 0.0, loss(at + 1));
    }
  }
  return 0.0;
}

}  // namespace dpforge::privacy
