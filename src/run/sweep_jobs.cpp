// SPDX-License-Identifier: Apache-2.0
#include "src/run/sweep_jobs.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>

#include "dpforge/core/error.h"

extern char** environ;

namespace dpforge::run::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> child_arguments(const std::filesystem::path& executable,
                                         const std::string& recipe_path, const ChildRun& run,
                                         int64_t jobs) {
  std::vector<std::string> arguments{executable.string(), "train", recipe_path};
  for (const auto& value : run.overrides) {
    arguments.push_back("--set");
    arguments.push_back(value);
  }
  arguments.push_back(run.resume ? "--resume" : "--out");
  arguments.push_back(run.dir.string());
  arguments.push_back("--concurrent-runs");
  arguments.push_back(std::to_string(jobs));
  return arguments;
}

// Starts one child with stdin from /dev/null and stdout and stderr into `log`: its pid, or minus
// the error number.
pid_t spawn_child(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return error == 0 ? pid : -error;
}

// Why a child failed: its own error line when it printed one, else how it ended.
std::optional<std::string> failure_of(int status, const std::filesystem::path& log) {
  if (WIFEXITED(status) &&
      (WEXITSTATUS(status) == kExitOk || WEXITSTATUS(status) == kExitAuditViolation)) {
    return std::nullopt;
  }
  std::ifstream text(log);
  std::string line, error_line;
  while (std::getline(text, line)) {
    if (const auto at = line.find("error: "); at != std::string::npos)
      error_line = line.substr(at + 7);
  }
  if (!error_line.empty()) return error_line;
  return WIFSIGNALED(status)
             ? fmt::format("killed by signal {} (log: {})", WTERMSIG(status), log.string())
             : fmt::format("exited with code {} (log: {})", WEXITSTATUS(status), log.string());
}

std::string time_left(double mean_seconds, size_t unfinished, int64_t jobs) {
  if (mean_seconds <= 0 || unfinished == 0) return "";
  const double seconds =
      mean_seconds * std::ceil(static_cast<double>(unfinished) / static_cast<double>(jobs));
  return seconds < 90 ? fmt::format("; about {:.0f} s left", seconds)
                      : fmt::format("; about {:.0f} min left", seconds / 60);
}

}  // namespace

std::vector<std::optional<std::string>> train_children(const std::filesystem::path& executable,
                                                       const std::string& recipe_path,
                                                       const std::vector<ChildRun>& runs,
                                                       int64_t jobs,
                                                       const std::filesystem::path& logs,
                                                       std::FILE* progress) {
  std::vector<std::optional<std::string>> failures(runs.size());
  std::filesystem::create_directories(logs);
  std::deque<size_t> waiting;
  for (size_t i = 0; i < runs.size(); ++i) waiting.push_back(i);
  struct Running {
    size_t run;
    Clock::time_point start;
  };
  std::map<pid_t, Running> running;
  size_t done = 0;
  double seconds_done = 0;
  const auto say = [&](const std::string& what) {
    if (progress == nullptr) return;
    fmt::print(progress, "sweep: {}; {}/{} done, {} running, {} waiting{}\n", what, done,
               runs.size(), running.size(), waiting.size(),
               time_left(done > 0 ? seconds_done / static_cast<double>(done) : 0,
                         running.size() + waiting.size(), jobs));
  };
  const auto log_of = [&](size_t i) { return logs / (runs[i].name + ".log"); };
  while (!waiting.empty() || !running.empty()) {
    while (!waiting.empty() && static_cast<int64_t>(running.size()) < jobs) {
      const size_t i = waiting.front();
      waiting.pop_front();
      const auto pid =
          spawn_child(child_arguments(executable, recipe_path, runs[i], jobs), log_of(i));
      if (pid < 0) {
        ++done;
        failures[i] = fmt::format("cannot start {} ({})", executable.string(), strerror(-pid));
        say(fmt::format("{} failed: {}", runs[i].name, *failures[i]));
        continue;
      }
      running[pid] = {i, Clock::now()};
      say(fmt::format("{} {} (log: {})", runs[i].name, runs[i].resume ? "resuming" : "training",
                      log_of(i).string()));
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("dpforge sweep: waitpid failed ({})", strerror(errno)));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;  // not one of ours
    const auto [i, start] = it->second;
    running.erase(it);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ++done;
    seconds_done += seconds;
    failures[i] = failure_of(status, log_of(i));
    say(fmt::format("{} {} after {:.1f} s", runs[i].name,
                    failures[i] ? "failed: " + *failures[i] : "finished", seconds));
  }
  return failures;
}

}  // namespace dpforge::run::detail
