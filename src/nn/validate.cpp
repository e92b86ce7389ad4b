// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/validate.h"

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layers.h"

namespace dpforge::nn {
namespace {

bool is_dp_layer(const torch::nn::Module& module) {
  return module.as<Linear>() != nullptr || module.as<nn::Conv2d>() != nullptr ||
         module.as<GroupNorm>() != nullptr || module.as<LayerNorm>() != nullptr ||
         module.as<Embedding>() != nullptr;
}

std::string replacement_for(const std::string& type) {
  if (type.find("BatchNorm") != std::string::npos ||
      type.find("InstanceNorm") != std::string::npos) {
    return "dpforge::nn::GroupNorm (BatchNorm mixes the examples of a batch, so one example's "
           "privacy would depend on the others)";
  }
  if (type.find("Linear") != std::string::npos) return "dpforge::nn::Linear";
  if (type.find("Conv2d") != std::string::npos) return "dpforge::nn::Conv2d";
  if (type.find("LayerNorm") != std::string::npos) return "dpforge::nn::LayerNorm";
  if (type.find("GroupNorm") != std::string::npos) return "dpforge::nn::GroupNorm";
  if (type.find("Embedding") != std::string::npos) return "dpforge::nn::Embedding";
  return "a dpforge::nn layer (Linear, Conv2d, GroupNorm, LayerNorm, Embedding)";
}

}  // namespace

void validate_model(const torch::nn::Module& model) {
  // A module reached twice shares its weights between two uses: each use would be clipped on its
  // own norm, while an example's gradient of the weight is their sum (up to √2 larger).
  std::unordered_map<const torch::nn::Module*, std::string> first_seen_at;
  for (const auto& item : model.named_modules("model")) {
    const auto& module = *item.value();
    const auto [first, inserted] = first_seen_at.emplace(&module, item.key());
    if (!inserted && !module.named_parameters(/*recurse=*/false).is_empty()) {
      throw_input_error(
          "model: the module at '{}' is also at '{}': weights shared between two uses are not "
          "supported by the DP engine (each use would be clipped on its own, and an example's "
          "gradient of the shared weight could exceed the clipping norm); use separate modules",
          first->second, item.key());
    }
    const std::string type = module.name();
    const auto own = module.parameters(/*recurse=*/false);
    const auto trainable =
        std::count_if(own.begin(), own.end(), [](const auto& p) { return p.requires_grad(); });
    if (trainable != 0 && trainable != static_cast<int64_t>(own.size())) {
      throw_input_error(
          "model: {} at '{}' is frozen only in part (requires_grad differs between its "
          "parameters); freeze a layer's weight and bias together, or neither",
          type, item.key());
    }
    const bool mixes_examples = type.find("BatchNorm") != std::string::npos;
    const bool owns_parameters = !module.named_parameters(/*recurse=*/false).is_empty();
    if (mixes_examples || (owns_parameters && !is_dp_layer(module))) {
      throw_input_error("model: {} at '{}' is not supported by the DP engine; replace it with {}",
                        type, item.key(), replacement_for(type));
    }
  }
}

void check_examples_independent(torch::nn::Sequential& model, const torch::Tensor& examples) {
  TORCH_CHECK(examples.size(0) >= 2, "check_examples_independent needs two examples");
  torch::NoGradGuard no_grad;
  const auto first = examples.slice(0, 0, 1), second = examples.slice(0, 1, 2);
  // Another partner for the first example: a later example unlike the second, else the first
  // itself (valid input for any model, category codes included); only when every example is the
  // same, a changed copy of the second, which a model reading category codes cannot take.
  torch::Tensor other;
  for (int64_t i = 2; i < examples.size(0) && !other.defined(); ++i) {
    if (!torch::equal(examples[i], examples[1])) other = examples.slice(0, i, i + 1);
  }
  if (!other.defined() && !torch::equal(examples[0], examples[1])) other = first;
  if (!other.defined()) {
    for (const auto& module : model->modules()) {
      if (module->as<TabularEmbedding>() != nullptr) return;  // nothing to compare against
    }
    other = examples.is_floating_point() ? second * 1.5 + 0.25 : second + 1;
  }
  // Both forwards in training mode (where BatchNorm-like modules mix examples) with the same random
  // state (so dropout draws the same masks); the state is restored, so a seeded run is unchanged.
  const std::lock_guard generator_lock(torch_generator_mutex());
  auto generator = at::globalContext().defaultGenerator(examples.device());
  const auto state = generator.get_state();
  const bool was_training = model->is_training();
  model->train();
  const auto with_second = model->forward(torch::cat({first, second}));
  generator.set_state(state);
  const auto with_other = model->forward(torch::cat({first, other}));
  generator.set_state(state);
  model->train(was_training);
  if (!torch::allclose(with_second[0], with_other[0], 1e-5, 1e-6)) {
    throw_input_error(
        "model: the output for one example changes with another example of the batch (a module "
        "mixes the examples of a batch, as BatchNorm does in training); per-example clipping "
        "then bounds nothing, so DP-SGD cannot train this model; use per-example layers "
        "(dpforge::nn::GroupNorm or LayerNorm instead of a batch normalization)");
  }
}

}  // namespace dpforge::nn
