// SPDX-License-Identifier: Apache-2.0
// What a run prints while it trains: a live progress line with a smoothed ETA.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace dpforge::train {

/// Remaining time from the pace so far. The first step (the process's warm-up) is left out;
/// seconds per step are then a running mean, and past a tenth of the run an exponential average
/// over that many steps, so one slow step moves the estimate little; pauses between epochs
/// (evaluation, accounting) are averaged apart and charged per epoch left. Plain elapsed / steps ×
/// remaining starts high after a slow first step and jumps with every pause.
class EtaEstimator {
 public:
  EtaEstimator(int64_t total_steps, int64_t epochs);
  /// `steps` more steps took `seconds` (pauses excluded).
  void add_steps(int64_t steps, double seconds);
  /// One pause between epochs took `seconds`.
  void add_pause(double seconds);
  /// Seconds left after `steps_done` steps and `epochs_done` epochs; < 0 while nothing is known.
  double seconds_left(int64_t steps_done, int64_t epochs_done) const;

 private:
  int64_t total_steps_, epochs_;
  double window_;  // steps over which the pace is averaged
  double seconds_per_step_ = -1, seconds_per_pause_ = 0;
  int64_t steps_seen_ = 0, pauses_ = 0;
  bool warmed_up_ = false;
};

/// A live progress line: rewritten in place on a terminal; otherwise (a pipe, a log file) the
/// first step's line, then a step line only when kPipedLineSeconds have passed without a line, so
/// a log holds the epochs' lines and, in long epochs, one line every kPipedLineSeconds.
class ProgressLine {
 public:
  static constexpr double kPipedLineSeconds = 10;
  ProgressLine(std::FILE* stream, int64_t total_steps, int64_t epochs, int64_t first_step = 0);
  /// After step `step` of epoch `epoch`; `note` follows the metrics (a private run's ε so far).
  void update(int64_t epoch, int64_t step, double loss, double accuracy,
              const std::string& note = "");
  /// After an epoch has been evaluated: prints `summary` on a line of its own.
  void epoch_done(const std::string& summary);

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* stream_;
  bool terminal_;
  int64_t total_steps_, epochs_;
  int64_t last_step_;
  bool step_printed_ = false;
  Clock::time_point start_, last_time_, last_line_;
  EtaEstimator eta_;
};

/// A phase after training (an audit, an attack): "<what> ..." when it starts and "<what>: done in
/// X s" when done() is called, so that no phase of a run is silent.
class Phase {
 public:
  Phase(std::FILE* stream, std::string what);
  /// Ends the phase; `result` (e.g. "pass") follows the time.
  void done(const std::string& result = "");

 private:
  std::FILE* stream_;
  std::string what_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dpforge::train
