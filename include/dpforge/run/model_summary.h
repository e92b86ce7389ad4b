// SPDX-License-Identifier: Apache-2.0
// What `dpforge summary RECIPE` prints: the network a recipe builds for its data, layer by layer
// (the module names model.trainable selects, output shapes, parameters, whether each trains, and
// how the DP engine takes its per-example gradient norms), and the tensor memory one training step
// needs, measured on a step of zeros rather than estimated from a formula.
//
// Example:
//   auto& meter = TensorMemoryMeter::install();
//   const auto summary = run::summarize_model(config::load_recipe("recipes/quickstart.ini"),
//                                             &meter);
//   for (const auto& layer : summary.layers) fmt::print("{} {}\n", layer.name, layer.text);
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/config/recipe.h"
#include "dpforge/core/tensor_memory_meter.h"

namespace dpforge::run {

struct LayerSummary {
  std::string name;      // the module's name in the state dict and for model.trainable ("3")
  std::string position;  // its place in the layer string ("4", "4.2" inside a residual)
  std::string text;      // as written ("linear(32)"), resolved for presets
  std::vector<int64_t> output_shape;  // one example's
  int64_t parameters = 0;  // its own (a residual's: its projection's; its body's layers follow)
  bool trains = false;
  std::string norm;  // how its per-example norm is computed; empty: none trained
};

struct ModelSummary {
  std::string arch;  // resolved (auto becomes a preset)
  std::string task;
  std::vector<int64_t> example_shape;
  int64_t outputs = 0;
  std::vector<LayerSummary> layers;
  int64_t parameters = 0;            // every scalar
  int64_t trainable_parameters = 0;  // those model.trainable selects
  bool private_step = false;         // a DP-SGD step (clipping, noise) or a plain one
  int64_t physical_batch = 0;        // examples in one forward (train.max_physical_batch)
  /// Peak CPU tensor bytes of one step on a physical batch: weights, optimizer state, activations
  /// and per-example norms; nullopt without a meter or on a GPU run.
  std::optional<int64_t> step_bytes;
  int64_t dataset_bytes = 0;  // the training split as held in memory
};

/// Builds the model of `recipe` for its data (model.init and model.trainable applied, so their
/// errors come here) and, with `meter` installed, measures one training step's tensor memory.
/// Reads the data for its shapes only; InputError when a shape would come from a DP release that
/// only a run makes (a categorical column's vocabulary without public categories).
ModelSummary summarize_model(const config::Recipe& recipe, TensorMemoryMeter* meter);

}  // namespace dpforge::run
