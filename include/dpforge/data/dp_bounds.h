// SPDX-License-Identifier: Apache-2.0
// Ranges of numeric columns released under DP instead of declared public (a column data.stats
// gives no min and max, under data.dp_stats_noise_multiplier): the [low, high] that min-max
// scaling maps to [0, 1], or that the DP standardizing statistics clip to (data/dp_stats.h).
//
// The mechanism, one Gaussian release of k columns' histograms on the private training split,
// over a grid of bins fixed in advance and the same for every dataset, so that the grid itself
// tells nothing (Google's ApproxBounds uses such a grid): a zero bin (−2^-16, 2^-16), then for
// e = −16 … 31 the binades [2^e, 2^(e+1)) and their mirror images (−2^(e+1), −2^e], the outermost
// pair reaching ±∞ — 97 bins per column. Each example adds 1 to one bin of each column, so under
// add/remove adjacency the k histograms move by a vector of L2 norm Δ = √k (√(2k) ≤ 2√k when one
// example is replaced, within what the accountant allows a replace-one Gaussian step). The counts
// are released as counts + N(0, (σ_b·Δ)² I): a Gaussian mechanism of noise multiplier σ_b, which
// the run's accountant composes ahead of the training steps (a step of sampling rate 1).
//
// The ranges are read from the noisy counts alone (post-processing): a column's range runs from
// the outer edge of its lowest bin whose noisy count exceeds τ = σ_b·Δ·z to the outer edge of its
// highest such bin (±2^32 for the two unbounded ones), with z = Φ⁻¹(1 − 10⁻³/97), so that a bin no
// example falls in passes with probability below 10⁻³ per column. A false pass only widens the
// range (accuracy, never privacy); a bin with fewer than about τ examples is left outside it, and
// its values are clamped to the range, as public min-max scaling clamps.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dpforge/data/dataset.h"
#include "dpforge/data/dp_stats.h"

namespace dpforge::data {

/// The public grid: 97 bins, bin kZeroBin holds |x| < 2^-16.
inline constexpr int kBoundsBins = 97;
inline constexpr int kZeroBin = 48;
/// The bin of x (non-finite x: the outermost bin of its sign; NaN: the zero bin).
int bounds_bin(double x);
/// A bin's edges, [low, high): ±2^32 stand for ±∞ on the outermost bins.
std::pair<double, double> bounds_bin_edges(int bin);

/// One Gaussian release of histograms and the ranges read from it, for the accountant and the
/// report.
struct BoundsRelease {
  std::string what;
  double noise_multiplier = 0;  // σ_b: the counts' noise std over their L2 sensitivity √k
  double sensitivity = 0;       // √k
  double threshold = 0;         // τ, in counts
  std::vector<std::string> columns;
  std::vector<double> lows, highs;  // the released ranges, per column (post-processing)
};

/// τ = noise_std · Φ⁻¹(1 − 10⁻³/97).
double bounds_threshold(double noise_std);
/// BoundsRelease::what for a release over `columns` columns.
std::string describe_bounds_release(size_t columns);

/// The range a column's noisy counts (one per bin) give, or nullopt when no bin passes τ.
std::optional<std::pair<double, double>> range_from_counts(const std::vector<double>& noisy_counts,
                                                           double threshold);

/// Releases the ranges of `columns` (features of `train` left raw by the reader, or its regression
/// target: StatisticOf::kTarget) with noise
/// multiplier `noise_multiplier` (noise from `seed`: a CSPRNG key in production, as the training
/// noise's). `train` is only read. InputError naming a column no bin of which passes τ (too few
/// rows for the noise): it is worded from the noisy counts alone. The caller accounts for the
/// release (run::before_training).
BoundsRelease dp_bounds(const Dataset& train, const std::vector<DeferredColumn>& columns,
                        double noise_multiplier, uint64_t seed);

/// Min-max scales `columns` of `dataset` with released ranges: x ↦ (clamp(x, low, high) − low) /
/// (high − low), as public min-max scaling does (ColumnScaler with clamp).
void scale_to_ranges(Dataset& dataset, const std::vector<DeferredColumn>& columns,
                     const std::vector<double>& lows, const std::vector<double>& highs);

}  // namespace dpforge::data
