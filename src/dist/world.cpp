// SPDX-License-Identifier: Apache-2.0
#include <charconv>
#include <cstdlib>
#include <string>

#include "dpforge/core/error.h"
#include "dpforge/dist/process_group.h"

namespace dpforge::dist {
namespace {

std::optional<std::string> variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

int64_t integer(const char* name, const std::string& text, int64_t low, int64_t high,
                const std::string& allowed) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
    throw_input_error(
        "environment: {}='{}' is not {} (torchrun sets RANK, WORLD_SIZE, "
        "LOCAL_RANK, MASTER_ADDR and MASTER_PORT)",
        name, text, allowed);
  }
  return value;
}

}  // namespace

std::optional<World> world_from_environment() {
  const auto world_size = variable("WORLD_SIZE");
  if (!world_size) return std::nullopt;
  constexpr int64_t kMostRanks = 1 << 20;
  World world;
  world.world_size =
      integer("WORLD_SIZE", *world_size, 1, kMostRanks, "an integer from 1 to 1048576");
  const auto rank = variable("RANK");
  if (!rank) throw_input_error("environment: WORLD_SIZE={} is set but RANK is not", *world_size);
  world.rank = integer("RANK", *rank, 0, world.world_size - 1,
                       "a rank from 0 to WORLD_SIZE - 1 = " + std::to_string(world.world_size - 1));
  if (const auto local = variable("LOCAL_RANK"))
    world.local_rank = integer("LOCAL_RANK", *local, 0, kMostRanks, "an integer >= 0");
  if (const auto address = variable("MASTER_ADDR")) {
    if (address->empty())
      throw_input_error("environment: MASTER_ADDR is empty (a host name or IP)");
    world.master_addr = *address;
  }
  if (const auto port = variable("MASTER_PORT"))
    world.master_port = integer("MASTER_PORT", *port, 1, 65535, "a TCP port from 1 to 65535");
  return world;
}

}  // namespace dpforge::dist
