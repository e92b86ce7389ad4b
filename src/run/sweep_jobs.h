// SPDX-License-Identifier: Apache-2.0
// The runs of a sweep, several at a time: each a `dpforge train` child process, so that runs share
// nothing but the CPUs (LibTorch's global generator and thread settings are per process) and one
// crashing costs only itself.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dpforge::run::detail {

/// One run to train: `train RECIPE --set ... (--out DIR | --resume DIR)`.
struct ChildRun {
  std::string name;
  std::vector<std::string> overrides;  // every --set, in order
  std::filesystem::path dir;
  bool resume = false;
};

/// Trains `runs` with `executable` (dpforge), `jobs` at a time, each told that it shares the
/// CPUs with jobs - 1 others (`--concurrent-runs`); each child's output goes to
/// `logs`/<name>.log. Returns, per run, nullopt when it finished (an audit violation included:
/// its report says so) or why it failed (its error line, or how it ended). Progress lines (runs
/// done / running / waiting, time left) go to `progress`.
std::vector<std::optional<std::string>> train_children(const std::filesystem::path& executable,
                                                       const std::string& recipe_path,
                                                       const std::vector<ChildRun>& runs,
                                                       int64_t jobs,
                                                       const std::filesystem::path& logs,
                                                       std::FILE* progress);

}  // namespace dpforge::run::detail
