// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/dp_stats.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <utility>

#include "dpforge/core/random.h"

namespace dpforge::data {
namespace {

// Keeps a standardized column finite when the released variance is (noisily) near zero.
constexpr double kMinRelativeStd = 1e-3;

// Each example's (u, u²) for one deferred column (the header's mechanism), as float64 [N] each.
std::pair<torch::Tensor, torch::Tensor> contributions(const Dataset& train,
                                                      const DeferredColumn& column) {
  const double centre = 0.5 * (column.low + column.high),
               half_width = 0.5 * (column.high - column.low);
  auto clipped = [&](const torch::Tensor& x) {
    return ((x.to(torch::kFloat64) - centre) / half_width).clamp(-1.0, 1.0);
  };
  switch (column.of) {
    case StatisticOf::kFeature: {
      const auto u = clipped(train.inputs.select(1, column.feature));
      return {u, u.square()};
    }
    case StatisticOf::kAllInputs: {
      const auto u = clipped(train.inputs.flatten(1));
      return {u.mean(1), u.square().mean(1)};
    }
    case StatisticOf::kTarget: {
      const auto u = clipped(train.labels);
      return {u, u.square()};
    }
  }
  throw std::logic_error("dp_standardize: unknown statistic");
}

}  // namespace

GaussianRelease dp_standardize(Dataset& train, const std::vector<Dataset*>& others,
                               const std::vector<DeferredColumn>& columns, double noise_multiplier,
                               uint64_t seed) {
  GaussianRelease release;
  const auto d = static_cast<int64_t>(columns.size());
  release.noise_multiplier = noise_multiplier;
  release.sensitivity = release_sensitivity(columns.size());
  release.what = describe_release(columns.size());
  if (d == 0) return release;
  std::vector<double> z(static_cast<size_t>(1 + 2 * d));
  z[0] = static_cast<double>(train.size());
  for (int64_t j = 0; j < d; ++j) {
    const auto [u, w] = contributions(train, columns[j]);
    z[1 + j] = u.sum().item<double>();
    z[1 + d + j] = w.sum().item<double>();
    release.columns.push_back(columns[j].name);
  }
  PhiloxUniform uniform(seed);
  const double noise_std = noise_multiplier * release.sensitivity;
  for (auto& value : z) value += noise_std * secure_standard_normal(uniform);
  // Post-processing of the release only: nothing below reads the data again.
  const double n = std::max(1.0, z[0]);
  for (int64_t j = 0; j < d; ++j) {
    const double centre = 0.5 * (columns[j].low + columns[j].high),
                 half_width = 0.5 * (columns[j].high - columns[j].low);
    const double mean_u = std::clamp(z[1 + j] / n, -1.0, 1.0);
    const double second = std::clamp(z[1 + d + j] / n, 0.0, 1.0);
    const double std_u =
        std::sqrt(std::max(second - mean_u * mean_u, kMinRelativeStd * kMinRelativeStd));
    release.means.push_back(centre + half_width * mean_u);
    release.stds.push_back(half_width * std_u);
  }
  standardize_columns(train, columns, release.means, release.stds);
  for (auto* other : others) standardize_columns(*other, columns, release.means, release.stds);
  return release;
}

double release_sensitivity(size_t columns) {
  return std::sqrt(1.0 + 2.0 * static_cast<double>(columns));
}

std::string describe_release(size_t columns) {
  return fmt::format(
      "standardizing statistics of {} columns (a count, means and second moments, one Gaussian "
      "release)",
      columns);
}

void standardize_columns(Dataset& dataset, const std::vector<DeferredColumn>& columns,
                         const std::vector<double>& means, const std::vector<double>& stds) {
  if (dataset.size() == 0) return;
  for (size_t j = 0; j < columns.size(); ++j) {
    switch (columns[j].of) {
      case StatisticOf::kFeature:
        dataset.inputs.select(1, columns[j].feature).sub_(means[j]).div_(stds[j]);
        break;
      case StatisticOf::kAllInputs:
        dataset.inputs.sub_(means[j]).div_(stds[j]);
        break;
      case StatisticOf::kTarget:  // metrics multiply the error back into the target's units
        dataset.labels.sub_(means[j]).div_(stds[j]);
        dataset.target_scale = stds[j];
        break;
    }
  }
}

}  // namespace dpforge::data
