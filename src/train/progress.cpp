// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

namespace dpforge::train {

ProgressLine::ProgressLine(std::FILE* stream, int64_t total_steps)
    : stream_(stream),
      terminal_(stream != nullptr && ::isatty(::fileno(stream)) == 1),
      total_steps_(total_steps),
      start_(std::chrono::steady_clock::now()) {}

void ProgressLine::update(int64_t epoch, int64_t epochs, int64_t step, double loss,
                          double accuracy) {
  if (stream_ == nullptr) return;
  const int64_t every = std::max<int64_t>(1, total_steps_ / (10 * epochs));
  if (!terminal_ && step - last_printed_step_ < every) return;
  last_printed_step_ = step;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = step > 0 ? elapsed / step * static_cast<double>(total_steps_ - step) : 0.0;
  const std::string line =
      fmt::format("epoch {}/{}  step {}/{}  loss {:.4f}  acc {:.2f}%  elapsed {:.0f}s  eta {:.0f}s",
                  epoch, epochs, step, total_steps_, loss, 100 * accuracy, elapsed, eta);
  if (terminal_) {
    fmt::print(stream_, "\r{:<100}", line);
  } else {
    fmt::print(stream_, "{}\n", line);
  }
  std::fflush(stream_);
}

void ProgressLine::epoch_done(const std::string& summary) {
  if (stream_ == nullptr) return;
  if (terminal_) {
    fmt::print(stream_, "\r{:<100}\n", summary);
  } else {
    fmt::print(stream_, "{}\n", summary);
  }
  std::fflush(stream_);
}

}  // namespace dpforge::train
