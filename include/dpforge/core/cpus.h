// SPDX-License-Identifier: Apache-2.0
// How many threads a run should use: the CPUs this process may actually use, which on a shared
// machine or in a container is less than std::thread::hardware_concurrency() reports. Two
// LibTorch pools of 2 threads each on 2 cores ran 6-7x slower than one (issue 26): a thread count
// above the CPUs granted turns every fork-join region into a wait for a descheduled thread.
//
// Example:
//   const auto threads = core::choose_threads(recipe.run.threads());
//   torch::set_num_threads(static_cast<int>(threads.count));
//   fmt::print("threads: {} ({})\n", threads.count, threads.reason);
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dpforge::core {

/// A thread count and why it was chosen, for the run's first line and report.json.
struct ThreadChoice {
  int64_t count = 1;
  std::string reason;  // e.g. "auto: 2 CPUs in the affinity mask", "run.threads = 4"
};

/// The CPUs this process may use: the scheduler affinity mask, capped by a cgroup CPU quota (v2
/// cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, on the process's own cgroup and its
/// ancestors; a fractional quota rounds up), and replaced by OMP_NUM_THREADS when that is set (the
/// user's own word). At least 1.
ThreadChoice usable_cpus();

/// `requested` > 0: that many, as asked; 0 (auto): usable_cpus() divided among the
/// `concurrent_runs` trainings this process runs at once (at least 1 each).
ThreadChoice choose_threads(int64_t requested, int64_t concurrent_runs = 1);

/// A cgroup v2 cpu.max line ("max 100000", "150000 100000"): the CPUs it allows, or nullopt for
/// no limit or text that is not such a line.
std::optional<double> cpu_max_limit(std::string_view text);

/// cgroup v1 quota and period files' contents ("-1" = no limit): the CPUs allowed, or nullopt.
std::optional<double> cfs_quota_limit(std::string_view quota, std::string_view period);

}  // namespace dpforge::core
