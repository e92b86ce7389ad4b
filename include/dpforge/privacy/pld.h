// SPDX-License-Identifier: Apache-2.0
// Privacy loss distributions (PLD) of the Poisson-subsampled Gaussian mechanism, under add/remove
// or replace-one adjacency, composed by FFT. Tight numerical accounting with a guaranteed upper
// bound on ε:
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

/// add: the neighbour has one example more; remove: one fewer (add/remove adjacency: ε reported =
/// max over both). replace: one example's gradient swapped for another's, P = (1−q)N(0, σ²) +
/// qN(1, σ²) against Q = (1−q)N(0, σ²) + qN(−1, σ²), σ in units of C (dp_accounting's REPLACE_ONE;
/// symmetric, so one direction is the whole of replace-one adjacency).
enum class PldDirection { kRemove, kAdd, kReplace };

/// The directions whose maximum is the adjacency's ε: {remove, add} or {replace}.
std::vector<PldDirection> pld_directions(Adjacency adjacency);

/// Mass pmf[i] at privacy loss ℓᵢ = (lower_index + i)·interval, plus infinity_mass at +∞.
///
/// A composition's masses come from an FFT, whose round-off is bounded, not zero: its vector of
/// errors e (in the tilted coordinates, compose()) has ‖e‖₂ ≤ roundoff, and mass i's error is
/// eᵢ·fᵢ with fᵢ = exp(log_scale − tilt·ℓᵢ). So Σ_{ℓᵢ>ε} (1 − e^{ε−ℓᵢ}) |eᵢ| fᵢ ≤
/// roundoff·(Σ_{ℓᵢ>ε} fᵢ²)^{1/2} (Cauchy–Schwarz) is added to δ(ε): both functions below stay
/// upper bounds of the exact composition's, whatever the machine's FFT rounds to.
struct DiscretePld {
  double interval = 1e-4;
  int64_t lower_index = 0;
  std::vector<double> pmf;
  double infinity_mass = 0;
  double roundoff = 0;  // 0: exact masses (one step)
  double tilt = 0, log_scale = 0;

  double loss(size_t i) const {
    return interval * static_cast<double>(lower_index + static_cast<int64_t>(i));
  }

  /// δ(ε) = ω(∞) + Σ_ℓ ω(ℓ)(1 − e^{ε−ℓ})₊ + the round-off bound above.
  double delta_for_epsilon(double epsilon) const;
  /// Smallest ε ≥ 0 with δ(ε) ≤ delta (exact for this discrete distribution; +∞ if none).
  double epsilon_for_delta(double delta) const;
};

/// δ(ε) of one step of the sampled Gaussian mechanism (closed form through Φ):
///   remove:  q·Φ̄((x−1)/σ) − (e^ε − 1 + q)·Φ̄(x/σ),  x = σ² log((e^ε − 1 + q)/q) + ½;
///   add:     (1 − e^ε(1−q))·Φ(x/σ) − e^ε q·Φ((x−1)/σ),  x = σ² log((e^{−ε} − 1 + q)/q) + ½;
///   replace: q·Φ̄((x−1)/σ) − (1−q)(e^ε − 1)·Φ̄(x/σ) − e^ε q·Φ̄((x+1)/σ),  x = σ² log u with u the
///            positive root of qk u² − (1−q)(e^ε − 1) u − qk e^ε, k = e^{−1/(2σ²)}.
double sampled_gaussian_delta(double sample_rate, double noise_multiplier, double epsilon,
                              PldDirection direction);

/// Total variation between one step's neighbouring outputs (= δ(0) in every direction):
/// q·erf(1/(2√2σ)) under add/remove, q·erf(1/(√2σ)) under replace-one. At δ at or above it, ε = 0
/// exactly. Rounded up by a hair, never above q.
double sampled_gaussian_total_variation(double sample_rate, double noise_multiplier,
                                        Adjacency adjacency = Adjacency::kAddRemove);

/// Exact ε of one step at δ (max over the adjacency's directions, by bisection on the closed form
/// above): the floor under any composition's ε, checked by PldAccountant::epsilon.
double sampled_gaussian_epsilon(double sample_rate, double noise_multiplier, double delta,
                                Adjacency adjacency = Adjacency::kAddRemove);

/// Connect-the-dots PLD of one step on a grid of `interval`; the loss range is cut where δ ≤
/// `tail_mass` (the rest goes to +∞).
DiscretePld sampled_gaussian_pld(double sample_rate, double noise_multiplier,
                                 PldDirection direction, double interval, double tail_mass);

/// Σ of independent losses: each PLD composed with itself `count` times, all on one grid.
/// `tilt` λ ≥ 0 computes the masses through the exponentially tilted distribution
/// p(ℓ)e^{λℓ}/M(λ), whose FFT has its mass, and so its relative precision, around the loss
/// K′(λ) instead of at the bulk: δ at tiny values (1e-12 after 1,000 steps) is read off masses
/// whose round-off is then far below them (DiscretePld; the λ of a query: PldAccountant).
DiscretePld compose(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                    double tail_mass, double tilt = 0);

/// The PLD accountant. Default interval 1e-4 (dp_accounting's default
/// value_discretization_interval); grids coarsen automatically when a composition would need more
/// than 2^20 points. Throws std::logic_error on any non-finite intermediate or an ε below the
/// single-step floor: a lost term would make ε optimistic, so it is never clamped away.
class PldAccountant final : public Accountant {
 public:
  explicit PldAccountant(double interval = 1e-4, Adjacency adjacency = Adjacency::kAddRemove)
      : Accountant(adjacency), interval_(interval) {}
  std::string name() const override { return "pld"; }
  double epsilon(double delta) const override;
  /// δ of the composition at ε (max over the adjacency's directions).
  double delta(double epsilon) const override;

 private:
  // The composition in `direction`, plain or its masses tilted toward where δ will be read: the
  // Chernoff point of δ = `at` (for ε), or the loss ε = `at` (for δ).
  enum class Query { kUntilted, kEpsilonAtDelta, kDeltaAtEpsilon };
  DiscretePld composed(PldDirection direction, Query query, double at) const;
  static double tilt_for(const std::vector<std::pair<const DiscretePld*, int64_t>>& parts,
                         Query query, double at);
  double interval_;
};

}  // namespace dpforge::privacy
