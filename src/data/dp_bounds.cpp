// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/dp_bounds.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/privacy/log_math.h"

namespace dpforge::data {
namespace {

constexpr int kLowestBinade = -16, kHighestBinade = 31;
// Probability that a bin no example falls in passes τ, over one column's bins.
constexpr double kFalsePassPerColumn = 1e-3;

}  // namespace

int bounds_bin(double x) {
  if (std::isnan(x) || std::abs(x) < std::ldexp(1.0, kLowestBinade)) return kZeroBin;
  const int binade =
      std::isinf(x) ? kHighestBinade : std::clamp(std::ilogb(x), kLowestBinade, kHighestBinade);
  const int offset = 1 + binade - kLowestBinade;  // 1 … 48
  return x > 0 ? kZeroBin + offset : kZeroBin - offset;
}

std::pair<double, double> bounds_bin_edges(int bin) {
  const double zero_edge = std::ldexp(1.0, kLowestBinade);
  if (bin == kZeroBin) return {-zero_edge, zero_edge};
  const int binade = std::abs(bin - kZeroBin) - 1 + kLowestBinade;
  const double inner = std::ldexp(1.0, binade), outer = std::ldexp(1.0, binade + 1);
  return bin > kZeroBin ? std::pair{inner, outer} : std::pair{-outer, -inner};
}

double bounds_threshold(double noise_std) {
  return noise_std *
         privacy::normal_quantile(1.0 - kFalsePassPerColumn / static_cast<double>(kBoundsBins));
}

std::string describe_bounds_release(size_t columns) {
  return fmt::format(
      "ranges of {} numeric columns (histograms over a fixed grid of binades, one Gaussian "
      "release)",
      columns);
}

std::optional<std::pair<double, double>> range_from_counts(const std::vector<double>& noisy_counts,
                                                           double threshold) {
  const auto passes = [&](double count) { return count > threshold; };
  const auto first = std::find_if(noisy_counts.begin(), noisy_counts.end(), passes);
  if (first == noisy_counts.end()) return std::nullopt;
  const auto last = std::find_if(noisy_counts.rbegin(), noisy_counts.rend(), passes);
  const int low_bin = static_cast<int>(first - noisy_counts.begin());
  const int high_bin = static_cast<int>(noisy_counts.rend() - last) - 1;
  return std::pair{bounds_bin_edges(low_bin).first, bounds_bin_edges(high_bin).second};
}

BoundsRelease dp_bounds(const Dataset& train, const std::vector<DeferredColumn>& columns,
                        double noise_multiplier, uint64_t seed) {
  BoundsRelease release;
  release.what = describe_bounds_release(columns.size());
  release.noise_multiplier = noise_multiplier;
  release.sensitivity = std::sqrt(static_cast<double>(columns.size()));
  const double noise_std = noise_multiplier * release.sensitivity;
  release.threshold = bounds_threshold(noise_std);
  PhiloxUniform uniform(seed);
  for (const auto& column : columns) {
    std::vector<double> counts(kBoundsBins, 0.0);
    if (column.of == StatisticOf::kAllInputs)
      throw std::logic_error("dp_bounds: array inputs take one public range, not a DP one");
    const auto& source =
        column.of == StatisticOf::kTarget ? train.labels : train.inputs.select(1, column.feature);
    const auto values = source.to(torch::kFloat64).contiguous();
    const double* value = values.data_ptr<double>();
    for (int64_t i = 0; i < values.numel(); ++i) counts[bounds_bin(value[i])] += 1;
    for (auto& count : counts) count += noise_std * secure_standard_normal(uniform);
    // Post-processing of the release only: nothing below reads the data again.
    const auto range = range_from_counts(counts, release.threshold);
    if (!range) {
      throw_input_error(
          "column '{}' has no range: no bin of its DP histogram passed the noise threshold "
          "({:.1f} rows at data.dp_stats_noise_multiplier = {} over {} columns); give its public "
          "min and max in data.stats, or lower the noise multiplier",
          column.name, release.threshold, noise_multiplier, columns.size());
    }
    release.columns.push_back(column.name);
    release.lows.push_back(range->first);
    release.highs.push_back(range->second);
  }
  return release;
}

void scale_to_ranges(Dataset& dataset, const std::vector<DeferredColumn>& columns,
                     const std::vector<double>& lows, const std::vector<double>& highs) {
  if (dataset.size() == 0) return;
  for (size_t j = 0; j < columns.size(); ++j) {
    if (columns[j].of != StatisticOf::kFeature)
      throw std::logic_error("scale_to_ranges: only feature columns are min-max scaled");
    // In double, as ColumnScaler::apply scores a raw row (dpforge predict).
    auto feature = dataset.inputs.select(1, columns[j].feature);
    feature.copy_(
        feature.to(torch::kFloat64).clamp(lows[j], highs[j]).sub(lows[j]).div(highs[j] - lows[j]));
  }
}

}  // namespace dpforge::data
