// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

namespace dpforge::train {

EtaEstimator::EtaEstimator(int64_t total_steps, int64_t epochs)
    : total_steps_(total_steps),
      epochs_(epochs),
      window_(std::max(10.0, static_cast<double>(total_steps) / 10)) {}

void EtaEstimator::add_steps(int64_t steps, double seconds) {
  if (steps <= 0) return;
  // The first step pays the process's warm-up (allocations, thread pools): not the pace.
  if (!warmed_up_) {
    warmed_up_ = true;
    if (steps == 1) return;
  }
  steps_seen_ += steps;
  const double pace = seconds / static_cast<double>(steps);
  // A running mean until a window of steps is seen, then an exponential average over it: k steps
  // carry k / min(seen, window) of the weight.
  const double span = std::min(static_cast<double>(steps_seen_), window_);
  const double weight = std::min(1.0, static_cast<double>(steps) / span);
  seconds_per_step_ =
      seconds_per_step_ < 0 ? pace : seconds_per_step_ + weight * (pace - seconds_per_step_);
}

void EtaEstimator::add_pause(double seconds) {
  ++pauses_;
  seconds_per_pause_ += (seconds - seconds_per_pause_) / static_cast<double>(pauses_);
}

double EtaEstimator::seconds_left(int64_t steps_done, int64_t epochs_done) const {
  if (seconds_per_step_ < 0) return -1;
  const auto steps_left = static_cast<double>(std::max<int64_t>(0, total_steps_ - steps_done));
  const auto pauses_left = static_cast<double>(std::max<int64_t>(0, epochs_ - epochs_done));
  return steps_left * seconds_per_step_ + pauses_left * seconds_per_pause_;
}

ProgressLine::ProgressLine(std::FILE* stream, int64_t total_steps, int64_t epochs,
                           int64_t first_step)
    : stream_(stream),
      terminal_(stream != nullptr && ::isatty(::fileno(stream)) == 1),
      total_steps_(total_steps),
      epochs_(epochs),
      last_step_(first_step),
      start_(Clock::now()),
      last_time_(start_),
      last_line_(start_),
      eta_(total_steps, epochs) {}

void ProgressLine::update(int64_t epoch, int64_t step, double loss, double accuracy,
                          const std::string& note) {
  if (stream_ == nullptr) return;
  const auto now = Clock::now();
  eta_.add_steps(step - last_step_, std::chrono::duration<double>(now - last_time_).count());
  last_step_ = step;
  last_time_ = now;
  if (!terminal_ && step_printed_ &&
      std::chrono::duration<double>(now - last_line_).count() < kPipedLineSeconds)
    return;
  step_printed_ = true;
  last_line_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double left = eta_.seconds_left(step, epoch - 1);
  const std::string line = fmt::format(
      "epoch {}/{}  step {}/{}  loss {:.4f}  acc {:.2f}%  {}elapsed {:.0f}s  eta {}", epoch,
      epochs_, step, total_steps_, loss, 100 * accuracy, note.empty() ? "" : note + "  ", elapsed,
      left < 0 ? std::string("-") : fmt::format("{:.0f}s", left));
  if (terminal_) {
    fmt::print(stream_, "\r{:<110}", line);
  } else {
    fmt::print(stream_, "{}\n", line);
  }
  std::fflush(stream_);
}

void ProgressLine::epoch_done(const std::string& summary) {
  const auto now = Clock::now();
  // Evaluation and accounting since the last step: a pause, not a slower pace.
  eta_.add_pause(std::chrono::duration<double>(now - last_time_).count());
  last_time_ = now;
  last_line_ = now;
  if (stream_ == nullptr) return;
  if (terminal_) {
    fmt::print(stream_, "\r{:<110}\n", summary);
  } else {
    fmt::print(stream_, "{}\n", summary);
  }
  std::fflush(stream_);
}

Phase::Phase(std::FILE* stream, std::string what)
    : stream_(stream), what_(std::move(what)), start_(std::chrono::steady_clock::now()) {
  if (stream_ == nullptr) return;
  fmt::print(stream_, "{} ...\n", what_);
  std::fflush(stream_);
}

void Phase::done(const std::string& result) {
  if (stream_ == nullptr) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fmt::print(stream_, "{}: done in {:.1f}s{}\n", what_, seconds,
             result.empty() ? "" : ": " + result);
  std::fflush(stream_);
}

}  // namespace dpforge::train
