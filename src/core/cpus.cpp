// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/cpus.h"

#include <fmt/format.h>
#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace dpforge::core {
namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return text;
}

std::optional<double> number(std::string_view text) {
  double value = 0;
  text = trimmed(text);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::string> read_small_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

int64_t affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<int64_t>(1, std::thread::hardware_concurrency());
}

// The process's cgroup path for a v1 controller ("cpu") or v2 (""), from /proc/self/cgroup lines
// "id:controllers:path".
std::optional<std::string> cgroup_path(const std::string& controller) {
  const auto text = read_small_file("/proc/self/cgroup");
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::istringstream names(controllers);
    bool match = controller.empty() && controllers.empty();
    for (std::string name; !controller.empty() && std::getline(names, name, ',');)
      match |= name == controller;
    if (match) return line.substr(second + 1);
  }
  return std::nullopt;
}

// The tightest quota on the path from the process's cgroup up to the root of a hierarchy.
template <typename Read>
std::optional<double> tightest_on_path(const std::filesystem::path& mount, const std::string& path,
                                       Read&& read) {
  std::optional<double> tightest;
  for (std::filesystem::path at = mount / std::filesystem::path(path).relative_path();;
       at = at.parent_path()) {
    if (const auto limit = read(at)) tightest = std::min(tightest.value_or(*limit), *limit);
    if (at == mount || !at.has_relative_path() || at.parent_path() == at) break;
  }
  return tightest;
}

std::optional<double> cgroup_quota() {
  std::optional<double> quota;
  if (const auto path = cgroup_path("")) {
    quota = tightest_on_path("/sys/fs/cgroup", *path, [](const std::filesystem::path& dir) {
      const auto text = read_small_file(dir / "cpu.max");
      return text ? cpu_max_limit(*text) : std::nullopt;
    });
  }
  if (const auto path = cgroup_path("cpu")) {
    for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
      const auto v1 = tightest_on_path(mount, *path, [](const std::filesystem::path& dir) {
        const auto quota_text = read_small_file(dir / "cpu.cfs_quota_us");
        const auto period_text = read_small_file(dir / "cpu.cfs_period_us");
        return quota_text && period_text ? cfs_quota_limit(*quota_text, *period_text)
                                         : std::nullopt;
      });
      if (v1) quota = std::min(quota.value_or(*v1), *v1);
    }
  }
  return quota;
}

std::string cpus_text(int64_t count) {
  return fmt::format("{} CPU{}", count, count == 1 ? "" : "s");
}

}  // namespace

std::optional<double> cpu_max_limit(std::string_view text) {
  text = trimmed(text);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = text.substr(0, space);
  const auto period = number(text.substr(space + 1));
  if (quota == "max" || !period || !(*period > 0)) return std::nullopt;
  const auto allowed = number(quota);
  if (!allowed || !(*allowed > 0)) return std::nullopt;
  return *allowed / *period;
}

std::optional<double> cfs_quota_limit(std::string_view quota, std::string_view period) {
  const auto q = number(quota), p = number(period);
  if (!q || !p || !(*q > 0) || !(*p > 0)) return std::nullopt;  // -1: no limit
  return *q / *p;
}

ThreadChoice usable_cpus() {
  if (const char* omp = std::getenv("OMP_NUM_THREADS"); omp != nullptr) {
    if (const auto value = number(omp); value && *value >= 1 && *value == std::floor(*value)) {
      return {static_cast<int64_t>(*value), fmt::format("OMP_NUM_THREADS={}", omp)};
    }
  }
  const int64_t affinity = affinity_cpus();
  const auto quota = cgroup_quota();
  if (quota && std::ceil(*quota) < static_cast<double>(affinity)) {
    const auto cpus = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(*quota - 1e-9)));
    return {cpus, fmt::format("cgroup CPU quota {:g} of the {} in the affinity mask", *quota,
                              cpus_text(affinity))};
  }
  return {affinity, fmt::format("{} in the affinity mask", cpus_text(affinity))};
}

ThreadChoice choose_threads(int64_t requested, int64_t concurrent_runs) {
  if (requested > 0) return {requested, fmt::format("run.threads = {}", requested)};
  auto usable = usable_cpus();
  const int64_t runs = std::max<int64_t>(1, concurrent_runs);
  if (runs == 1) return {usable.count, "auto: " + usable.reason};
  return {std::max<int64_t>(1, usable.count / runs),
          fmt::format("auto: {}, shared by {} runs", usable.reason, runs)};
}

}  // namespace dpforge::core
