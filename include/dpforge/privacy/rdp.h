// SPDX-License-Identifier: Apache-2.0
// Rényi DP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
// arXiv:1908.10530) and its conversion to (ε, δ)-DP, add/remove adjacency. Pure math.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpforge::privacy {

/// RDP orders α of dp_accounting's default grid: 1.1, 1.2, …, 10.9, 11, …, 63, 128, 256, 512,
/// 1024 (156 orders). A superset of Opacus's grid, so ε is never larger than Opacus's.
std::vector<double> default_rdp_orders();

/// Opacus's grid (1.1 … 10.9, 12 … 63; 151 orders) for digit-for-digit comparisons.
std::vector<double> opacus_rdp_orders();

/// ε_α of one step of the sampled Gaussian mechanism with sampling rate q and noise multiplier σ:
///   ε_α = log A_α / (α − 1),
///   A_α = Σ_{k=0}^{α} C(α,k) (1−q)^{α−k} q^k exp((k² − k)/(2σ²))        (integer α, exact),
/// and the two-sided erfc series of [MTZ §3.3] for fractional α, summed with signs in log space
/// until both terms fall below e⁻³⁰. q = 1 gives the Gaussian mechanism's α/(2σ²); q = 0 gives 0.
double rdp_sampled_gaussian(double sample_rate, double noise_multiplier, double order);

/// How RDP becomes (ε, δ).
enum class RdpConversion {
  /// Balle et al. 2020, Thm 21 (= Canonne, Kamath & Steinke 2020, Prop. 12), as used by current
  /// Opacus and dp_accounting: ε = ε_α + log((α−1)/α) − (log δ + log α)/(α − 1).
  kImproved,
  /// Mironov 2017, Prop. 3: ε = ε_α + log(1/δ)/(α − 1). Reproduces older published numbers.
  kClassic,
};
std::string to_string(RdpConversion conversion);

struct EpsilonAndOrder {
  double epsilon = 0;
  double order = 0;  // the α attaining the minimum
};

/// Smallest ε over the orders for the composed RDP curve `rdp` (same length as `orders`).
/// For kImproved follows dp_accounting: orders ≤ 1.01 are skipped, ε = 0 when δ² > 1 − e^{−ε_α}
/// (the KL bound), and ε is clamped at 0.
EpsilonAndOrder rdp_to_epsilon(std::span<const double> orders, std::span<const double> rdp,
                               double delta, RdpConversion conversion = RdpConversion::kImproved);

/// Smallest δ over the orders at which the RDP curve gives (ε, δ)-DP (improved conversion):
///   δ = min_α exp((α−1)(ε_α − ε + log(1 − 1/α)) − log α), capped at 1.
double rdp_to_delta(std::span<const double> orders, std::span<const double> rdp, double epsilon);

}  // namespace dpforge::privacy
