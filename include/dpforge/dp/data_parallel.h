// SPDX-License-Identifier: Apache-2.0
// One rank's part of a data-parallel DP-SGD step (docs/design.md, Note [noise after sum]). W
// ranks share one mechanism, so that the run is the single-process one, computed in parts:
//   1. sampling: every rank runs the same Poisson sampler (the same key) over all N examples and
//      keeps the members of its own shard, so the union over ranks is one Poisson(q) sample of
//      the whole dataset, q = B/N of the global N;
//   2. each rank clips and sums its members (Σ over its shard of cᵢgᵢ); the auditor's canaries,
//      examples of the same population, are summed by rank 0 alone;
//   3. the W sums are added across ranks (CrossRankSum): the whole step's Σᵢ cᵢgᵢ, sensitivity C;
//   4. the noise is added once: every rank draws the same blocks from the same key on the same
//      sum, so all ranks hold the same noised gradient, never W independent noises;
//   5. ÷ q·N and the inner step on every rank: the weights stay identical.
// Every rank joins the collective of every step, its own batch empty or not.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <utility>

namespace dpforge::dp {

/// Adds a flat float32 tensor elementwise across all ranks, in place, every rank receiving the
/// same sum (an all-reduce; dist/process_group.h implements it over torch.distributed).
class CrossRankSum {
 public:
  virtual ~CrossRankSum() = default;
  virtual void sum_(torch::Tensor& flat) = 0;
};

/// Rank r of W's examples among N: [⌊rN/W⌋, ⌊(r+1)N/W⌋), contiguous, sizes differing by at most
/// one.
std::pair<int64_t, int64_t> shard_range(int64_t examples, int64_t rank, int64_t world_size);

/// How a step is shared among ranks. The target's train_set holds exactly this rank's shard.
struct DataParallel {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t shard_begin = 0;  // global index of the train_set's first example
  int64_t shard_end = 0;
  CrossRankSum* cross_rank_sum = nullptr;
  /// Rank 0 sums the hooks' examples (the auditor's canaries) and is the one that writes.
  bool leads() const { return rank == 0; }
};

}  // namespace dpforge::dp
