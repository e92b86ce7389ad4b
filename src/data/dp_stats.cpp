// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/dp_stats.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "dpforge/core/random.h"

namespace dpforge::data {
namespace {

// Keeps a standardized column finite when the released variance is (noisily) near zero.
constexpr double kMinRelativeStd = 1e-3;

}  // namespace

GaussianRelease dp_standardize(Dataset& train, const std::vector<Dataset*>& others,
                               const std::vector<DeferredColumn>& columns, double noise_multiplier,
                               uint64_t seed) {
  GaussianRelease release;
  const auto d = static_cast<int64_t>(columns.size());
  release.noise_multiplier = noise_multiplier;
  release.sensitivity = std::sqrt(1.0 + 2.0 * static_cast<double>(d));
  release.what = describe_release(columns.size());
  if (d == 0) return release;
  std::vector<int64_t> index;
  std::vector<double> centre, half_width;
  for (const auto& column : columns) {
    index.push_back(column.feature);
    centre.push_back(0.5 * (column.low + column.high));
    half_width.push_back(0.5 * (column.high - column.low));
    release.columns.push_back(column.name);
  }
  const auto c = torch::tensor(centre, torch::kFloat64),
             r = torch::tensor(half_width, torch::kFloat64);
  const auto x =
      train.inputs.index_select(1, torch::tensor(index, torch::kLong)).to(torch::kFloat64);
  const auto u = ((x - c) / r).clamp(-1.0, 1.0);
  std::vector<double> z = {static_cast<double>(train.size())};
  const auto sums = u.sum(0), squares = u.square().sum(0);
  for (int64_t j = 0; j < d; ++j) z.push_back(sums[j].item<double>());
  for (int64_t j = 0; j < d; ++j) z.push_back(squares[j].item<double>());
  PhiloxUniform uniform(seed);
  const double noise_std = noise_multiplier * release.sensitivity;
  for (auto& value : z) value += noise_std * secure_standard_normal(uniform);
  // Post-processing of the release only: nothing below reads the data again.
  const double n = std::max(1.0, z[0]);
  for (int64_t j = 0; j < d; ++j) {
    const double mean_u = std::clamp(z[1 + j] / n, -1.0, 1.0);
    const double second = std::clamp(z[1 + d + j] / n, 0.0, 1.0);
    const double std_u =
        std::sqrt(std::max(second - mean_u * mean_u, kMinRelativeStd * kMinRelativeStd));
    release.means.push_back(centre[j] + half_width[j] * mean_u);
    release.stds.push_back(half_width[j] * std_u);
  }
  standardize_columns(train, columns, release.means, release.stds);
  for (auto* other : others) standardize_columns(*other, columns, release.means, release.stds);
  train.gaussian_releases.push_back(noise_multiplier);
  return release;
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
    dataset.inputs.select(1, columns[j].feature).sub_(means[j]).div_(stds[j]);
  }
}

}  // namespace dpforge::data
