// SPDX-License-Identifier: Apache-2.0
// Poisson sampling (docs/design.md, invariant 1): every step, each of the N examples joins the
// batch independently with probability q. The batch size is Binomial(N, q) and may be 0; that is
// what the subsampled-Gaussian accountants assume, so no other batching may be used under DP.
#pragma once
#include <cstdint>
#include <vector>

#include "dpforge/core/random.h"

namespace dpforge::data {

class PoissonSampler {
 public:
  PoissonSampler(int64_t dataset_size, double sample_rate, uint64_t seed);
  /// Indices of the next logical batch, ascending. O(qN) per call: gaps between chosen examples
  /// are drawn as Geometric(q) skips, not N coin flips.
  std::vector<int64_t> next();
  int64_t dataset_size() const { return dataset_size_; }
  double sample_rate() const { return sample_rate_; }
  /// The sampler's whole state is its position in the Philox stream (checkpoints save it).
  const PhiloxUniform& stream() const { return uniform_; }
  void restore(uint64_t block, int word) { uniform_.restore(block, word); }

 private:
  int64_t dataset_size_;
  double sample_rate_;
  PhiloxUniform uniform_;
};

}  // namespace dpforge::data
