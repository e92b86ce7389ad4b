// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/core/enum_names.h"
#include "dpforge/data/task.h"

namespace dpforge::data {

/// How a categorical column becomes features: one 0/1 feature per category, or one feature holding
/// the category's code for a learned (DP) embedding (nn::TabularEmbedding).
enum class CategoricalEncoding { kOneHot, kEmbedding };
inline constexpr EnumNames<CategoricalEncoding, 2> kCategoricalEncodingNames{
    {{{CategoricalEncoding::kOneHot, "one_hot"}, {CategoricalEncoding::kEmbedding, "embedding"}}}};

/// A feature that holds a category's code (CategoricalEncoding::kEmbedding): k for the column's
/// k-th category (1-based), 0 for a value outside its vocabulary (one learned vector for all of
/// them, where one-hot encodes them as all zeros).
struct CategoryCodes {
  int64_t feature = 0;     // index among the example's features
  int64_t categories = 0;  // the vocabulary's size: codes are 0..categories
  std::string name;        // the column
};

// An in-memory labelled dataset, each part one contiguous tensor: inputs N x ... float32 (images
// N x C x H x W, tables N x F), labels [N] (int64 classes, or float32 targets for regression).
struct Dataset {
  torch::Tensor inputs;
  torch::Tensor labels;
  int64_t num_classes = 10;  // classes of a classification task (2 for binary); 0 for regression
  Task task = Task::kMulticlass;
  /// Regression: the target was divided by this (a standardized target); metrics multiply back.
  double target_scale = 1.0;
  /// Features holding category codes, in feature order (empty unless some column is embedded).
  std::vector<CategoryCodes> category_codes;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// The same kind of data (task, classes) with other examples.
  Dataset with(torch::Tensor new_inputs, torch::Tensor new_labels) const {
    Dataset other = *this;
    other.inputs = std::move(new_inputs);
    other.labels = std::move(new_labels);
    return other;
  }
  /// One example's shape: inputs.sizes() without the leading N.
  std::vector<int64_t> example_shape() const {
    return {inputs.sizes().begin() + 1, inputs.sizes().end()};
  }
};

/// The task and one example's shape, as the run's first line shows them: "binary, 30 features",
/// "multiclass (10 classes), 1x28x28".
std::string describe(const Dataset& dataset);

// The first `count` examples (count >= size() keeps all).
Dataset take_first(const Dataset& dataset, int64_t count);

// `count` distinct examples chosen uniformly at random with `seed` (order preserved).
Dataset take_random(const Dataset& dataset, int64_t count, uint64_t seed);

// The examples at `indices` (int64 [K]), in that order.
Dataset take(const Dataset& dataset, const torch::Tensor& indices);

}  // namespace dpforge::data
