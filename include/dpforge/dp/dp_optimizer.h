// SPDX-License-Identifier: Apache-2.0
// DP-SGD around any inner optimizer (SGD/momentum, Adam, AdamW): composition, not one class per
// combination of options.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <torch/optim/optimizer.h>

#include "dpforge/dp/clipping.h"
#include "dpforge/dp/noise.h"
#include "dpforge/dp/tape.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::dp {

struct DpOptimizerOptions {
  DPF_ARG(ClipOptions, clip) = ClipOptions();
  /// σ: the noise std on the clipped sum is σ·C.
  DPF_ARG(double, noise_multiplier) = 1.0;
  /// q of Poisson sampling, told to the accountant at every step.
  DPF_ARG(double, sample_rate) = 0.0;
  /// q·N: the clipped, noised sum is divided by this, never by the realized batch size.
  DPF_ARG(double, expected_batch_size) = 1.0;
};

class DpOptimizer {
 public:
  /// `parameters` are the model's trainable tensors; each must be fed by a DP layer.
  DpOptimizer(std::vector<torch::Tensor> parameters,
              std::unique_ptr<torch::optim::Optimizer> inner, DpOptimizerOptions options,
              NoiseGenerator noise, privacy::Accountant& accountant);

  /// Adds the clipped per-example gradients of one physical batch to the step's running sum.
  void accumulate(const GradTape& tape, const std::vector<torch::Tensor>& output_grads);

  /// Ends a logical step: the privacy-critical order, in this one function (see the .cpp).
  void step();

  torch::optim::Optimizer& inner() { return *inner_; }
  const DpOptimizerOptions& options() const { return options_; }
  const NoiseGenerator& noise() const { return noise_; }
  int64_t examples_dropped() const { return examples_dropped_; }
  int64_t examples_seen() const { return examples_seen_; }

 private:
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<torch::optim::Optimizer> inner_;
  DpOptimizerOptions options_;
  NoiseGenerator noise_;
  privacy::Accountant& accountant_;
  std::unordered_map<const void*, torch::Tensor> clipped_sum_;  // by parameter storage
  int64_t examples_dropped_ = 0;
  int64_t examples_seen_ = 0;
};

}  // namespace dpforge::dp
