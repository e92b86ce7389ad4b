// SPDX-License-Identifier: Apache-2.0
// The one file that sees c10d and Gloo (compiled with USE_C10D_GLOO, without the shared
// precompiled header, whose flags lack it).
#include "dpforge/dist/process_group.h"

#include <fmt/format.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "dpforge/core/error.h"

namespace dpforge::dist {

struct ProcessGroup::Engine {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

ProcessGroup::ProcessGroup(const World& world, std::chrono::milliseconds timeout)
    : world_(world), engine_(std::make_unique<Engine>()) {
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(world.master_port);
    options.isServer = world.rank == 0;
    options.numWorkers = static_cast<size_t>(world.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    engine_->store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create();
    gloo->timeout = timeout;
    // Gloo's devices are this host's interface toward the others: found from its name, as
    // torch.distributed does, or the loopback when the run is on one host.
    gloo->devices.push_back(world.master_addr == "127.0.0.1" || world.master_addr == "localhost"
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    engine_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        engine_->store, static_cast<int>(world.rank), static_cast<int>(world.world_size), gloo);
  } catch (const c10::Error& error) {
    throw_input_error(
        "rank {} of {}: could not join the ranks at {}:{} within {} s (MASTER_ADDR, "
        "MASTER_PORT; every rank must start with the same WORLD_SIZE): {}",
        world.rank, world.world_size, world.master_addr, world.master_port,
        std::chrono::duration<double>(timeout).count(), error.what_without_backtrace());
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::sum_(torch::Tensor& flat) {
  std::vector<at::Tensor> tensors{flat};
  engine_->group->allreduce(tensors)->wait();
}

uint64_t ProcessGroup::broadcast(uint64_t value) {
  const auto key = fmt::format("dpforge/broadcast/{}", exchanges_++);
  if (world_.rank == 0) {
    const auto text = std::to_string(value);
    engine_->store->set(key, std::vector<uint8_t>(text.begin(), text.end()));
    return value;
  }
  const auto bytes = engine_->store->get(key);
  return std::stoull(std::string(bytes.begin(), bytes.end()));
}

void ProcessGroup::require_same(const std::string& what, const std::string& value) {
  const auto prefix = fmt::format("dpforge/same/{}/", exchanges_++);
  engine_->store->set(prefix + std::to_string(world_.rank),
                      std::vector<uint8_t>(value.begin(), value.end()));
  const auto of = [&](int64_t rank) {
    const auto bytes = engine_->store->get(prefix + std::to_string(rank));
    return std::string(bytes.begin(), bytes.end());
  };
  const auto first = of(0);
  for (int64_t rank = 1; rank < world_.world_size; ++rank) {
    if (const auto other = of(rank); other != first) {
      throw_input_error("rank {}: its {} is '{}', rank 0's is '{}': start every rank the same way",
                        rank, what, other, first);
    }
  }
}

}  // namespace dpforge::dist
