// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/poisson_sampler.h"

#include <cmath>
#include <stdexcept>

namespace dpforge::data {

PoissonSampler::PoissonSampler(int64_t dataset_size, double sample_rate, uint64_t seed)
    : dataset_size_(dataset_size), sample_rate_(sample_rate), uniform_(seed) {
  if (dataset_size < 0 || !(sample_rate >= 0 && sample_rate <= 1)) {
    throw std::invalid_argument("PoissonSampler: need dataset_size >= 0 and sample_rate in [0, 1]");
  }
}

std::vector<int64_t> PoissonSampler::next() {
  std::vector<int64_t> batch;
  if (sample_rate_ == 0 || dataset_size_ == 0) return batch;
  if (sample_rate_ == 1) {
    batch.resize(static_cast<size_t>(dataset_size_));
    for (int64_t i = 0; i < dataset_size_; ++i) batch[static_cast<size_t>(i)] = i;
    return batch;
  }
  batch.reserve(static_cast<size_t>(sample_rate_ * static_cast<double>(dataset_size_) * 1.2) + 8);
  // The number of examples skipped before the next chosen one is Geometric(q):
  // P(skip = k) = (1−q)^k q, drawn as floor(log U / log(1−q)) with U uniform on (0, 1].
  const double log_keep = std::log1p(-sample_rate_);
  int64_t position = -1;
  while (true) {
    const double skip = std::floor(std::log(uniform_.next()) / log_keep);
    if (skip >= static_cast<double>(dataset_size_ - position - 1)) break;
    position += 1 + static_cast<int64_t>(skip);
    batch.push_back(position);
  }
  return batch;
}

}  // namespace dpforge::data
