// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/tape.h"

namespace dpforge::dp {
namespace {
thread_local GradTape* current_tape = nullptr;
}  // namespace

std::vector<torch::Tensor> GradTape::outputs() const {
  std::vector<torch::Tensor> outputs;
  outputs.reserve(records_.size());
  for (const auto& record : records_) outputs.push_back(record.output);
  return outputs;
}

GradTape* active_tape() { return current_tape; }

TapeGuard::TapeGuard(GradTape& tape) : previous_(current_tape) { current_tape = &tape; }

TapeGuard::~TapeGuard() { current_tape = previous_; }

}  // namespace dpforge::dp
