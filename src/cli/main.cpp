// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "dpforge/core/allocator.h"
#include "dpforge/core/error.h"

namespace {

std::string usage() {
  std::string text = "usage: dpforge <command> [options]\ncommands:\n";
  for (const auto& command : dpforge::cli::commands()) {
    // A usage that fits beside its summary shares the line; a long one gets a line of its own.
    text += command.usage.size() < 56
                ? fmt::format("  {:<56}{}\n", command.usage, command.summary)
                : fmt::format("  {}\n  {:<56}{}\n", command.usage, "", command.summary);
  }
  return text + "exit codes: 0 ok, 1 failure, 2 bad input, 3 audit found a violation\n";
}

std::string allowed_commands() {
  std::string names;
  for (const auto& command : dpforge::cli::commands())
    names += (names.empty() ? "" : ", ") + command.name;
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  dpforge::keep_freed_memory_for_reuse();
  if (argc < 2) {
    fmt::print(stderr, "{}", usage());
    return dpforge::kExitBadInput;
  }
  const std::string name = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (name == "--help" || name == "-h" || name == "help") {
    fmt::print("{}", usage());
    return dpforge::kExitOk;
  }
  try {
    for (const auto& command : dpforge::cli::commands()) {
      if (command.name == name) return command.run(args);
    }
    fmt::print(stderr, "dpforge: unknown command '{}'; allowed: {}\n{}", name, allowed_commands(),
               usage());
    return dpforge::kExitBadInput;
  } catch (const dpforge::InputError& error) {
    fmt::print(stderr, "dpforge: error: {}\n", error.what());
    return dpforge::kExitBadInput;
  } catch (const std::exception& error) {
    fmt::print(stderr, "dpforge: failed: {}\n", error.what());
    return dpforge::kExitFailure;
  }
}
