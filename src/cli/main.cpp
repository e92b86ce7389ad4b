// SPDX-License-Identifier: Apache-2.0
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "dpforge/core/allocator.h"
#include "dpforge/core/error.h"

namespace {

constexpr const char* kUsage =
    "usage: dpforge <command> [options]\n"
    "commands:\n"
    "  train RECIPE [--set section.key=value]... [--out DIR | --resume DIR]\n"
    "                                                          train a recipe, write DIR/report.json\n"
    "  sweep RECIPE [--grid key=v1,v2]... [--variant 'name: key=v ...']... --out DIR\n"
    "                                                          one run per combination, then the table\n"
    "  compare RUN_DIR... [--json | --csv]                     runs side by side: epsilon, accuracy, attacks\n"
    "  report RUN_DIR [--out FILE]                             one self-contained HTML page for a run\n"
    "  audit RUN_DIR --set audit.shadow_models=K [--json]      LiRA and RMIA with K shadow models\n"
    "  budget --sample-rate Q --noise-multiplier S --steps T --delta D [--accountant A] [--json]\n"
    "                                                          epsilon spent by DP-SGD\n"
    "  calibrate --target-epsilon E --delta D --sample-rate Q --steps T [--accountant A] [--json]\n"
    "                                                          noise multiplier for a target epsilon\n"
    "  audit-scores FILE.csv [--delta D] [--confidence C] [--json]\n"
    "                                                          epsilon lower bounds from score,member rows\n"
    "  keys [--markdown]                                       list every recipe key\n"
    "exit codes: 0 ok, 1 failure, 2 bad input, 3 audit found a violation\n";

}  // namespace

int main(int argc, char** argv) {
  dpforge::keep_freed_memory_for_reuse();
  if (argc < 2) {
    fmt::print(stderr, "{}", kUsage);
    return dpforge::kExitBadInput;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "train") return dpforge::cli::train_command(args);
    if (command == "keys") return dpforge::cli::keys_command(args);
    if (command == "budget") return dpforge::cli::budget_command(args);
    if (command == "calibrate") return dpforge::cli::calibrate_command(args);
    if (command == "audit-scores") return dpforge::cli::audit_scores_command(args);
    if (command == "sweep") return dpforge::cli::sweep_command(args);
    if (command == "compare") return dpforge::cli::compare_command(args);
    if (command == "report") return dpforge::cli::report_command(args);
    if (command == "audit") return dpforge::cli::audit_command(args);
    if (command == "--help" || command == "-h" || command == "help") {
      fmt::print("{}", kUsage);
      return dpforge::kExitOk;
    }
    fmt::print(stderr, "dpforge: unknown command '{}'; allowed: train, sweep, compare, report, audit, budget, calibrate, audit-scores, keys\n{}", command, kUsage);
    return dpforge::kExitBadInput;
  } catch (const dpforge::InputError& error) {
    fmt::print(stderr, "dpforge: error: {}\n", error.what());
    return dpforge::kExitBadInput;
  } catch (const std::exception& error) {
    fmt::print(stderr, "dpforge: failed: {}\n", error.what());
    return dpforge::kExitFailure;
  }
}
