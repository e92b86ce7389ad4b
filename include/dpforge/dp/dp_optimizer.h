// SPDX-License-Identifier: Apache-2.0
// DP-SGD around any inner optimizer (SGD/momentum, Adam, AdamW): composition, not one class per
// combination of options.
#pragma once
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include <torch/optim/optimizer.h>

#include "dpforge/audit/dirac_canaries.h"
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
  /// Auditor validation only (privacy.fault = no_noise / half_noise): the noise actually added is
  /// this times σC while the accountant is still told σ. Never private unless 1.
  DPF_ARG(double, fault_noise_scale) = 1.0;
};

class DpOptimizer {
 public:
  /// `parameters` are the model's trainable tensors; each must be fed by a DP layer.
  DpOptimizer(std::vector<torch::Tensor> parameters,
              std::unique_ptr<torch::optim::Optimizer> inner, DpOptimizerOptions options,
              NoiseGenerator noise, privacy::Accountant& accountant);

  /// Adds the clipped per-example gradients of one physical batch to the step's running sum.
  /// `layers` come from per_sample_layers and are consumed (NaN/Inf examples are dropped).
  void accumulate(std::vector<PerSampleLayer> layers);

  /// Makes the canaries' coordinates one more privatized parameter and lets them observe every
  /// privatized update of it (white-box audit).
  void attach_canaries(audit::DiracCanaries& canaries);
  /// Adds the clipped Dirac gradients of the canaries sampled into this step.
  void accumulate_canaries(const std::vector<int64_t>& canary_ids);

  /// Ends a logical step: the privacy-critical order, in this one function (see the .cpp).
  void step();

  torch::optim::Optimizer& inner() { return *inner_; }
  const DpOptimizerOptions& options() const { return options_; }
  const NoiseGenerator& noise() const { return noise_; }
  int64_t examples_dropped() const { return examples_dropped_; }
  int64_t examples_seen() const { return examples_seen_; }
  /// Continues from a checkpoint: the noise stream's position and the example counters (the inner
  /// optimizer's state is restored through inner()).
  void restore(NoiseGenerator noise, int64_t examples_dropped, int64_t examples_seen) {
    noise_ = noise;
    examples_dropped_ = examples_dropped;
    examples_seen_ = examples_seen;
  }

 private:
  std::vector<torch::Tensor> parameters_;
  std::unique_ptr<torch::optim::Optimizer> inner_;
  DpOptimizerOptions options_;
  NoiseGenerator noise_;
  privacy::Accountant& accountant_;
  std::unordered_map<const void*, torch::Tensor> clipped_sum_;  // by parameter storage
  audit::DiracCanaries* canaries_ = nullptr;
  int64_t examples_dropped_ = 0;
  int64_t examples_seen_ = 0;
};

}  // namespace dpforge::dp
