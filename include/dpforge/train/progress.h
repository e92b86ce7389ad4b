// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace dpforge::train {

/// A live progress line: rewritten in place on a terminal, a line every ~10% of an epoch otherwise
/// (so logs of CI and batch jobs stay short).
class ProgressLine {
 public:
  ProgressLine(std::FILE* stream, int64_t total_steps);
  void update(int64_t epoch, int64_t epochs, int64_t step, double loss, double accuracy);
  void epoch_done(const std::string& summary);

 private:
  std::FILE* stream_;
  bool terminal_;
  int64_t total_steps_;
  int64_t last_printed_step_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dpforge::train
