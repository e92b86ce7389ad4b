// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/models.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <mutex>
#include <numeric>
#include <stdexcept>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/nn/trainable.h"

namespace dpforge::nn {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, " x "));
}

// Convolutional models need C x H x W examples of at least `min_side` pixels a side.
void require_image(const std::vector<int64_t>& shape, Arch arch, int64_t min_side) {
  if (shape.size() != 3) {
    throw_input_error(
        "model.arch = {} needs image examples (C x H x W), this data's examples are {}; use "
        "model.arch = mlp for tables and flat vectors",
        to_string(arch), shape_text(shape));
  }
  if (shape[1] < min_side || shape[2] < min_side) {
    throw_input_error(
        "model.arch = {} needs images of at least {} x {} pixels, this data's are {} x {}; use "
        "model.arch = mlp (or wrn16_4) for smaller images",
        to_string(arch), min_side, min_side, shape[1], shape[2]);
  }
}

// Messages name the key the user wrote, or the preset.
std::string layers_key(const ModelOptions& options) {
  return options.arch() == Arch::kLayers ? "model.layers"
                                         : "model.arch = " + to_string(options.arch());
}

}  // namespace

ModelOptions resolved(ModelOptions options, const std::vector<int64_t>& shape) {
  if (options.arch() != Arch::kAuto) return options;
  const bool image =
      shape.size() == 3 && shape[1] >= kCnnTanhMinSide && shape[2] >= kCnnTanhMinSide;
  return options.arch(image ? Arch::kCnnTanh : Arch::kMlp);
}

std::string preset_layers(const ModelOptions& options) {
  // Dropout only zeroes activations per example, so the DP layers still see each example's own
  // inputs and their per-example gradients stay exact.
  const std::string dropout =
      options.dropout() > 0 ? fmt::format(" dropout({})", options.dropout()) : "";
  switch (options.arch()) {
    case Arch::kMlp:
      return fmt::format("flatten linear({0}) tanh{1} linear({0}) tanh{1} linear(out)",
                         options.mlp_hidden(), dropout);
    case Arch::kCnnTanh:
      // conv, pool, conv, pool: 28 → 13 → 12 → 5 → 4 for Fashion-MNIST (32·4·4 = 512 features).
      return fmt::format(
          "conv(16, k=8, s=2, p=2) tanh maxpool(2, s=1) conv(32, k=4, s=2) tanh maxpool(2, s=1) "
          "flatten linear(32) tanh{} linear(out)",
          dropout);
    case Arch::kWrn16_4: {
      // Each group's first block changes the shape, so it projects its activated input (norm and
      // ReLU before the residual); the second adds its own input (norm and ReLU inside).
      std::string text = "conv(16, k=3, p=1)";
      const int64_t widths[] = {64, 128, 256}, strides[] = {1, 2, 2};
      for (int group = 0; group < 3; ++group) {
        const int64_t width = widths[group];
        const std::string second = fmt::format("groupnorm(16) relu conv({}, k=3, p=1)", width);
        text += fmt::format(" groupnorm(16) relu residual(conv({}, k=3, s={}, p=1) {})", width,
                            strides[group], second);
        text += fmt::format(" residual(groupnorm(16) relu conv({}, k=3, p=1) {})", width, second);
      }
      return text + " groupnorm(16) relu adaptiveavgpool(1) flatten linear(out)";
    }
    case Arch::kLayers:
      return options.layers();
    case Arch::kAuto:
      break;
  }
  throw std::invalid_argument(
      "preset_layers: model.arch = auto has no layers until resolved for the examples' shape");
}

namespace {

// The model for examples of `shape` (`codes`: its features that hold category codes) and
// `outputs` outputs, and what each of its layers became.
torch::nn::Sequential build_model(const ModelOptions& given, const std::vector<int64_t>& shape,
                                  int64_t outputs, const std::vector<data::CategoryCodes>& codes,
                                  std::vector<BuiltLayer>& built) {
  const auto options = resolved(given, shape);
  const auto key = layers_key(options);
  torch::nn::Sequential model;
  if (codes.empty()) {
    switch (options.arch()) {
      case Arch::kMlp:
      case Arch::kLayers:
        break;
      case Arch::kCnnTanh:
        require_image(shape, options.arch(), kCnnTanhMinSide);
        break;
      case Arch::kWrn16_4:
        require_image(shape, options.arch(), 4);
        break;
      case Arch::kAuto:  // resolved above
        break;
    }
    built = append_layers(model, parse_layers(preset_layers(options), key), shape, outputs, key);
    return model;
  }
  if (options.arch() != Arch::kMlp && options.arch() != Arch::kLayers) {
    throw_input_error(
        "data.categorical_encoding = embedding puts a DP Embedding in front of the mlp; "
        "model.arch = {} takes images: use model.arch = mlp or layers (or one_hot encoding)",
        to_string(options.arch()));
  }
  std::vector<EmbeddedFeature> embedded;
  for (const auto& column : codes) {
    const int64_t dim = options.embedding_dim() > 0 ? options.embedding_dim()
                                                    : default_embedding_dim(column.categories + 1);
    embedded.push_back({column.feature, column.categories, dim});
  }
  TabularEmbedding embedding(shape.at(0), std::move(embedded));
  const int64_t features = embedding->output_features();
  model->push_back("embedding", embedding);
  built = append_layers(model, parse_layers(preset_layers(options), key), {features}, outputs, key);
  return model;
}

// The weights a built model starts training from, and which of them train.
void start_from(const ModelOptions& options, torch::nn::Module& model) {
  if (!options.init().empty()) load_state_dict(model, options.init());
  freeze_all_but(model, options.trainable());
}

}  // namespace

torch::nn::Sequential make_model(const ModelOptions& options, const std::vector<int64_t>& shape,
                                 int64_t outputs) {
  std::vector<BuiltLayer> built;
  auto model = build_model(options, shape, outputs, {}, built);
  start_from(options, *model);
  return model;
}

torch::nn::Sequential make_model(const ModelOptions& options, int64_t num_classes) {
  return make_model(options, {1, 28, 28}, num_classes);
}

torch::nn::Sequential make_model(const ModelOptions& options, const data::Dataset& like,
                                 uint64_t seed) {
  const std::lock_guard generator_lock(torch_generator_mutex());
  torch::manual_seed(seed);
  return make_model(options, like);
}

torch::nn::Sequential make_model(const ModelOptions& options, const data::Dataset& like) {
  std::vector<BuiltLayer> built;
  auto model =
      build_model(options, like.example_shape(), data::model_outputs(like.task, like.num_classes),
                  like.category_codes, built);
  start_from(options, *model);
  return model;
}

std::vector<BuiltLayer> model_layers(const ModelOptions& options, const data::Dataset& like) {
  std::vector<BuiltLayer> built;
  build_model(options, like.example_shape(), data::model_outputs(like.task, like.num_classes),
              like.category_codes, built);
  return built;
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t total = 0;
  for (const auto& parameter : model.parameters()) {
    if (parameter.requires_grad()) total += parameter.numel();
  }
  return total;
}

namespace {
bool is_dropout(const torch::nn::Module& module) {
  return module.name().find("Dropout") != std::string::npos;
}
}  // namespace

bool has_dropout(const torch::nn::Module& model) {
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (is_dropout(*module)) return true;
  }
  return false;
}

DropoutOff::DropoutOff(torch::nn::Module& model) {
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (is_dropout(*module) && module->is_training()) {
      module->eval();
      switched_.push_back(module);
    }
  }
}

DropoutOff::~DropoutOff() {
  for (const auto& module : switched_) module->train();
}

}  // namespace dpforge::nn
