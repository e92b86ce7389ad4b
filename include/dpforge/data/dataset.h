// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "dpforge/data/task.h"

namespace dpforge::data {

// An in-memory labelled dataset, each part one contiguous tensor: inputs N x ... float32 (images
// N x C x H x W, tables N x F), labels [N] (int64 classes, or float32 targets for regression).
struct Dataset {
  torch::Tensor inputs;
  torch::Tensor labels;
  int64_t num_classes = 10;  // classes of a classification task (2 for binary); 0 for regression
  Task task = Task::kMulticlass;
  /// Regression: the target was divided by this (a standardized target); metrics multiply back.
  double target_scale = 1.0;
  /// Noise multipliers of the Gaussian releases (sampling rate 1) already computed from these
  /// examples (data/dp_stats.h): a private run's accountant composes them before its first step.
  std::vector<double> gaussian_releases;
  /// δ those releases spend outside their Gaussian composition (the DP vocabularies' thresholds,
  /// data/dp_vocabulary.h): added to the run's δ, so its accountant is asked at δ − this.
  double release_delta = 0;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// The same kind of data (task, classes) with other examples.
  Dataset with(torch::Tensor new_inputs, torch::Tensor new_labels) const {
    return Dataset{std::move(new_inputs), std::move(new_labels), num_classes,  task,
                   target_scale,          gaussian_releases,     release_delta};
  }
  /// One example's shape: inputs.sizes() without the leading N.
  std::vector<int64_t> example_shape() const {
    return {inputs.sizes().begin() + 1, inputs.sizes().end()};
  }
};

// The first `count` examples (count >= size() keeps all).
Dataset take_first(const Dataset& dataset, int64_t count);

// `count` distinct examples chosen uniformly at random with `seed` (order preserved).
Dataset take_random(const Dataset& dataset, int64_t count, uint64_t seed);

// The examples at `indices` (int64 [K]), in that order.
Dataset take(const Dataset& dataset, const torch::Tensor& indices);

}  // namespace dpforge::data
