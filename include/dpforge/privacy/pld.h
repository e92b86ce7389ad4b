// SPDX-License-Identifier: Apache-2.0
// Privacy loss distributions (PLD) of the Poisson-subsampled Gaussian mechanism, add/remove
// adjacency, composed by FFT. Tight numerical accounting with a guaranteed upper bound on ε:
//  - one step is discretized by connect-the-dots (Doroshenko, Ghazi, Kamath, Kumar & Manurangsi,
//    PoPETS 2022): the loss mass of each grid interval is split between its two end points so that
//    both P- and Q-mass are preserved; the discrete pair then dominates the true one (its δ(ε) is
//    the chord of the true δ, convex in e^ε, so it lies above it), and dominating pairs compose
//    (Zhu, Dong & Wang 2022) — the error does not grow like T·Δ as plain rounding would;
//  - composition multiplies FFTs on a window chosen by a Chernoff bound; mass that may lie outside
//    it is added to the mass at +∞, so truncation and wrap-around only ever increase δ;
//  - δ(ε) = ω(∞) + Σ_ℓ ω(ℓ)(1 − e^{ε−ℓ})₊ (hockey-stick divergence), inverted exactly for ε.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "dpforge/privacy/accountant.h"

namespace dpforge::privacy {

/// add: the neighbour has one example more; remove: one fewer. ε reported = max over both.
enum class PldDirection { kRemove, kAdd };

/// Mass pmf[i] at privacy loss (lower_index + i)·interval, plus infinity_mass at +∞.
struct DiscretePld {
  double interval = 1e-4;
  int64_t lower_index = 0;
  std::vector<double> pmf;
  double infinity_mass = 0;

  /// δ(ε) = ω(∞) + Σ_ℓ ω(ℓ)(1 − e^{ε−ℓ})₊.
  double delta_for_epsilon(double epsilon) const;
  /// Smallest ε ≥ 0 with δ(ε) ≤ delta (exact for this discrete distribution; +∞ if none).
  double epsilon_for_delta(double delta) const;
};

/// δ(ε) of one step of the sampled Gaussian mechanism (closed form through Φ):
///   remove: q·Φ̄((x−1)/σ) − (e^ε − 1 + q)·Φ̄(x/σ),  x = σ² log((e^ε − 1 + q)/q) + ½;
///   add:    (1 − e^ε(1−q))·Φ(x/σ) − e^ε q·Φ((x−1)/σ),  x = σ² log((e^{−ε} − 1 + q)/q) + ½.
double sampled_gaussian_delta(double sample_rate, double noise_multiplier, double epsilon,
                              PldDirection direction);

/// Total variation between one step's neighbouring outputs, q·erf(1/(2√2σ)) (= δ(0) in both
/// directions): at δ at or above it, ε = 0 exactly. Rounded up by a hair, never above q.
double sampled_gaussian_total_variation(double sample_rate, double noise_multiplier);

/// Exact ε of one step at δ (max over both directions, by bisection on the closed form above): the
/// floor under any composition's ε, checked by PldAccountant::epsilon.
double sampled_gaussian_epsilon(double sample_rate, double noise_multiplier, double delta);

/// Connect-the-dots PLD of one step on a grid of `interval`; the loss range is cut where δ ≤
/// `tail_mass` (the rest goes to +∞).
DiscretePld sampled_gaussian_pld(double sample_rate, double noise_multiplier,
                                 PldDirection direction, double interval, double tail_mass);

/// Σ of independent losses: each PLD composed with itself `count` times, all on one grid.
DiscretePld compose(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                    double tail_mass);

/// The PLD accountant. Default interval 1e-4 (dp_accounting's default
/// value_discretization_interval); grids coarsen automatically when a composition would need more
/// than 2^20 points. Throws std::logic_error on any non-finite intermediate or an ε below the
/// single-step floor: a lost term would make ε optimistic, so it is never clamped away.
class PldAccountant final : public Accountant {
 public:
  explicit PldAccountant(double interval = 1e-4) : interval_(interval) {}
  std::string name() const override { return "pld"; }
  double epsilon(double delta) const override;
  /// δ of the composition at ε (max over directions).
  double delta(double epsilon) const override;

 private:
  DiscretePld composed(PldDirection direction) const;
  double interval_;
};

}  // namespace dpforge::privacy
