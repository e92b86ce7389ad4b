// SPDX-License-Identifier: Apache-2.0
// The ranks of a data-parallel run, on PyTorch's own distributed engine: c10d's TCPStore for the
// rendezvous and ProcessGroupGloo for the collectives (CPU tensors), as torchrun launches them.
// dpforge adds no transport of its own; the DP step uses it through dp::CrossRankSum
// (dp/data_parallel.h).
//
// Example:
//   const auto world = dist::world_from_environment();  // RANK, WORLD_SIZE, MASTER_ADDR, ...
//   if (world) {
//     dist::ProcessGroup ranks(*world, std::chrono::seconds(300));
//     ranks.require_same("recipe hash", hash);           // every rank trains the same recipe
//     auto flat = torch::ones({4});
//     ranks.sum_(flat);                                  // world_size everywhere
//   }
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "dpforge/dp/data_parallel.h"

namespace dpforge::dist {

/// One rank's place in the run, as torchrun describes it.
struct World {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
};

/// The torchrun environment: RANK, WORLD_SIZE, LOCAL_RANK (default 0), MASTER_ADDR (default
/// 127.0.0.1), MASTER_PORT (default 29500); nullopt when WORLD_SIZE is unset (one process).
/// InputError naming the variable and the allowed values on anything else.
std::optional<World> world_from_environment();

class ProcessGroup final : public dp::CrossRankSum {
 public:
  /// Joins the ranks through a TCPStore served by rank 0 at master_addr:master_port; InputError
  /// naming the address when the ranks do not all arrive within `timeout`.
  ProcessGroup(const World& world, std::chrono::milliseconds timeout);
  ~ProcessGroup() override;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  /// All-reduce (sum) of a flat CPU float32 tensor, in place.
  void sum_(torch::Tensor& flat) override;
  /// Rank 0's `value` on every rank (a key agreed from rank 0's OS CSPRNG, say).
  uint64_t broadcast(uint64_t value);
  /// InputError on every rank, naming the first rank whose `value` differs from rank 0's, e.g.
  /// ranks started with different recipes.
  void require_same(const std::string& what, const std::string& value);
  const World& world() const { return world_; }

 private:
  struct Engine;
  World world_;
  std::unique_ptr<Engine> engine_;
  int64_t exchanges_ = 0;  // store keys are unique per exchange
};

}  // namespace dpforge::dist
