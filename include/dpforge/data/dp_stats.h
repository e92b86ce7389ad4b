// SPDX-License-Identifier: Apache-2.0
// Standardizing statistics estimated with DP instead of taken as public
// (data.dp_stats_noise_multiplier): the means and standard deviations of the columns whose public
// statistics give a range [lo, hi] but no mean and std.
//
// The mechanism, one Gaussian release of d columns on the private training split: each example i
// maps to u_ij = clip((x_ij − c_j) / r_j, −1, 1) with c = (lo + hi)/2, r = (hi − lo)/2 (for all
// inputs of an array source, u_ij and u_ij² are the example's averages over its P values, still
// in [−1, 1] and [0, 1]; for a regression target, x_ij is the example's target), and
// contributes the vector v_i = (1, u_i1..u_id, u_i1²..u_id²), whose L2 norm is at most
// Δ = sqrt(1 + 2d). The release is Σ_i v_i + N(0, (σ_s·Δ)² I): under add/remove adjacency a
// Gaussian mechanism of noise multiplier σ_s (std over sensitivity), which the run's accountant
// composes with the training steps (as a step of sampling rate 1). From it:
// n̂ = max(1, z₀), μ_u = clip(z_u / n̂, −1, 1), E[u²] = clip(z_w / n̂, 0, 1),
// σ_u = sqrt(max(E[u²] − μ_u², (1e-3)²)); then mean_j = c_j + r_j·μ_u, std_j = r_j·σ_u.
// Everything after the release is post-processing, so applying the statistics to the test and
// validation splits costs nothing more.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/data/dataset.h"

namespace dpforge::data {

/// What a deferred statistic standardizes: one feature column of a table, every input value of
/// an array source (one pooled mean and std, as public "inputs" statistics are), or a regression
/// target.
enum class StatisticOf { kFeature, kAllInputs, kTarget };

/// A feature (or all inputs, or the target) whose standardization waits for DP statistics: its
/// column in the inputs (kFeature) and its public range.
struct DeferredColumn {
  int64_t feature = 0;
  std::string name;
  double low = 0, high = 0;
  StatisticOf of = StatisticOf::kFeature;
};

/// One Gaussian release on the training data, for the accountant and the report.
struct GaussianRelease {
  std::string what;  // "standardizing statistics of 3 columns (count, means, second moments)"
  double noise_multiplier = 0;
  double sensitivity = 0;
  std::vector<std::string> columns;
  std::vector<double> means, stds;  // the released estimates, per column (post-processing)
};

/// GaussianRelease::what for a release over `columns` columns.
std::string describe_release(size_t columns);
/// Δ = sqrt(1 + 2d), the release's L2 sensitivity over d columns.
double release_sensitivity(size_t columns);

/// Standardizes `columns` of `dataset` with given means and stds (a release's, read back).
void standardize_columns(Dataset& dataset, const std::vector<DeferredColumn>& columns,
                         const std::vector<double>& means, const std::vector<double>& stds);

/// Estimates the columns' statistics from `train` with noise multiplier `noise_multiplier` (noise
/// from `seed`: a CSPRNG key in production, as the training noise's) and standardizes those
/// columns of `train` and of every dataset in `others` with them. The caller accounts for the
/// release (run::before_training).
GaussianRelease dp_standardize(Dataset& train, const std::vector<Dataset*>& others,
                               const std::vector<DeferredColumn>& columns, double noise_multiplier,
                               uint64_t seed);

}  // namespace dpforge::data
