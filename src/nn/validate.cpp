// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/validate.h"

#include <torch/torch.h>

#include <string>
#include <unordered_map>

#include "dpforge/core/error.h"
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
    const bool mixes_examples = type.find("BatchNorm") != std::string::npos;
    const bool owns_parameters = !module.named_parameters(/*recurse=*/false).is_empty();
    if (mixes_examples || (owns_parameters && !is_dp_layer(module))) {
      throw_input_error("model: {} at '{}' is not supported by the DP engine; replace it with {}",
                        type, item.key(), replacement_for(type));
    }
  }
}

}  // namespace dpforge::nn
