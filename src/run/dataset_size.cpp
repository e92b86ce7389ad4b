// SPDX-License-Identifier: Apache-2.0
// The size a private run plans with (run.h plan_dataset_size; docs/privacy.md, "The dataset's
// size").
#include <algorithm>
#include <cmath>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/run/run.h"

namespace dpforge::run {

namespace {

// Fashion-MNIST's training split has 60,000 images, 6,000 of each class, published numbers; the
// recipe's classes, subset and validation carve then fix the training set's size without reading
// a row (as load_run_data cuts).
int64_t fashion_mnist_selection_size(const config::Recipe& recipe) {
  constexpr int64_t kPublishedTrainSize = 60000, kPublishedClassSize = 6000;
  const auto& d = recipe.data;
  const auto classes = static_cast<int64_t>(config::kept_classes(d).size());
  const int64_t published = classes > 0 ? classes * kPublishedClassSize : kPublishedTrainSize;
  int64_t size = d.train_subset() > 0 ? std::min(d.train_subset(), published) : published;
  if (d.validation_fraction() > 0)
    size -= std::llround(d.validation_fraction() * static_cast<double>(size));
  if (d.validation_size() > 0) size -= d.validation_size();
  return size;
}

}  // namespace

void plan_dataset_size(const config::Recipe& recipe, RunData& data, uint64_t seed,
                       nlohmann::json& stored) {
  const auto& privacy = recipe.privacy;
  if (!privacy.enabled()) {
    data.planning_size = data.train.size();
    return;
  }
  switch (config::dataset_size_source(recipe)) {
    case config::DatasetSizeSource::kDeclared:
      data.planning_size = privacy.public_dataset_size();
      return;
    case config::DatasetSizeSource::kRecipe:
      data.planning_size = fashion_mnist_selection_size(recipe);
      return;
    case config::DatasetSizeSource::kReplaceOne:
      data.planning_size = data.train.size();  // the same for every neighbour: nothing to hide
      return;
    case config::DatasetSizeSource::kDpCount:
      break;
  }
  const double noise_multiplier = privacy.size_noise_multiplier();
  SizeRelease release{noise_multiplier, 0};
  if (stored.is_object() && stored.contains("dataset_size")) {
    const auto& record = stored["dataset_size"];
    release = {record.at("noise_multiplier").get<double>(), record.at("count").get<int64_t>()};
    if (release.noise_multiplier != noise_multiplier) {
      throw_input_error(
          "the run released its training set's size with noise multiplier {}; this recipe has "
          "privacy.size_noise_multiplier = {}: restore the recipe the run started with",
          release.noise_multiplier, noise_multiplier);
    }
  } else {
    // The count's sensitivity is 1 under add/remove; its noise is drawn as the training noise is
    // (a CSPRNG key in production), and only the rounded count leaves this function.
    PhiloxUniform uniform(seed);
    const double noisy =
        static_cast<double>(data.train.size()) + noise_multiplier * secure_standard_normal(uniform);
    release.count = std::max<int64_t>(1, std::llround(noisy));
    if (!stored.is_object()) stored = nlohmann::json::object();
    stored["dataset_size"] = {{"noise_multiplier", release.noise_multiplier},
                              {"count", release.count}};
  }
  data.planning_size = release.count;
  data.size_release = release;
}

}  // namespace dpforge::run
