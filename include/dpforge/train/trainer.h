// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>
#include <cstdio>
#include <vector>

#include <torch/nn/modules/container/sequential.h>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"

namespace dpforge::train {

struct Evaluation {
  double loss = 0;
  double accuracy = 0;
};

struct EpochMetrics {
  int64_t epoch = 0;
  int64_t steps = 0;  // optimizer steps taken so far
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double seconds = 0;  // wall time of this epoch, evaluation included
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  int64_t steps = 0;
  double test_accuracy = 0;
  double wall_seconds = 0;
};

/// Mean cross-entropy and accuracy of `model` (in eval mode) on `dataset`.
Evaluation evaluate(torch::nn::Sequential& model, const data::Dataset& dataset,
                    int64_t batch_size = 1000);

/// Non-private training: each epoch visits a fresh random permutation of `train_set` in batches of
/// train.batch_size (physical batches of at most train.max_physical_batch accumulated), then
/// evaluates on `test_set`. `seed` drives the batch order. Progress goes to `progress` (nullptr:
/// silent): one rewritten line on a terminal, periodic lines otherwise.
TrainResult train_nonprivate(const config::Recipe& recipe, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const data::Dataset& test_set,
                             uint64_t seed, std::FILE* progress);

}  // namespace dpforge::train
