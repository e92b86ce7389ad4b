// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace dpforge::data {

// An in-memory labelled dataset: images N x C x H x W float in [0, 1], labels N int64.
struct Dataset {
  torch::Tensor images;
  torch::Tensor labels;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes = 10;
};

// The first `count` examples (count >= size() keeps all).
Dataset take_first(const Dataset& dataset, int64_t count);

// `count` distinct examples chosen uniformly at random with `seed` (order preserved).
Dataset take_random(const Dataset& dataset, int64_t count, uint64_t seed);

}  // namespace dpforge::data
