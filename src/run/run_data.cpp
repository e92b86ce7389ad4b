// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/error.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/run/run.h"

namespace dpforge::run {
namespace {

data::Dataset load_split(const config::Recipe& recipe, data::Split split) {
  auto dataset = data::load_fashion_mnist(data_root(recipe), split);
  if (split == data::Split::kTest) {
    return recipe.data.test_subset() > 0 ? data::take_first(dataset, recipe.data.test_subset())
                                         : dataset;
  }
  const int64_t subset = recipe.data.train_subset();
  if (subset == 0) return dataset;
  return recipe.data.subset() == config::Subset::kRandom
             ? data::take_random(dataset, subset, static_cast<uint64_t>(recipe.data.subset_seed()))
             : data::take_first(dataset, subset);
}

}  // namespace

RunData load_run_data(const config::Recipe& recipe) {
  RunData data{load_split(recipe, data::Split::kTrain), load_split(recipe, data::Split::kTest), {}};
  if (const int64_t held = recipe.data.validation_size(); held > 0) {
    if (held >= data.train.size()) {
      throw_input_error(
          "data.validation_size = {} leaves no training examples (the training split has {})", held,
          data.train.size());
    }
    // The last `held` examples: never trained on, so DP makes no promise about them.
    const int64_t kept = data.train.size() - held;
    const auto& train = data.train;
    data.validation = {train.images.slice(0, kept), train.labels.slice(0, kept), train.num_classes};
    data.train = {train.images.slice(0, 0, kept), train.labels.slice(0, 0, kept),
                  train.num_classes};
  }
  return data;
}

std::filesystem::path data_root(const config::Recipe& recipe) {
  return recipe.data.root().empty() ? data::default_fashion_mnist_root()
                                    : std::filesystem::path(recipe.data.root());
}

}  // namespace dpforge::run
