// SPDX-License-Identifier: Apache-2.0
// The model zoo: networks made only of DP layers (layers.h) and parameter-free modules.
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dpforge/core/enum_names.h"
#include "dpforge/core/options.h"
#include "dpforge/data/dataset.h"
#include "dpforge/nn/layer_builder.h"

namespace dpforge::nn {

/// The presets, kLayers: the network ModelOptions::layers writes (nn/layer_builder.h), and kAuto:
/// the preset that fits the examples (resolved()).
enum class Arch { kMlp, kCnnTanh, kWrn16_4, kLayers, kAuto };
inline constexpr EnumNames<Arch, 5> kArchNames{{{{Arch::kMlp, "mlp"},
                                                 {Arch::kCnnTanh, "cnn_tanh"},
                                                 {Arch::kWrn16_4, "wrn16_4"},
                                                 {Arch::kLayers, "layers"},
                                                 {Arch::kAuto, "auto"}}}};
inline std::string to_string(Arch arch) { return std::string(kArchNames.name(arch)); }

/// The recipe's [model] section (config::Recipe::model is this struct).
struct ModelOptions {
  DPF_ARG(Arch, arch) = Arch::kAuto;
  /// Width of the mlp's two hidden layers.
  DPF_ARG(int64_t, mlp_hidden) = 256;
  /// Vector length per category of an embedded categorical column (data::CategoryCodes); 0:
  /// default_embedding_dim.
  DPF_ARG(int64_t, embedding_dim) = 0;
  /// Dropout probability after each hidden activation (mlp, cnn_tanh); 0 = none. A defense.
  DPF_ARG(double, dropout) = 0.0;
  /// arch = layers: the network in the layer language (nn/layer_spec.h), e.g.
  /// "flatten linear(64) relu linear(out)".
  DPF_ARG(std::string, layers) = "";
  /// A state dict (torch.save(model.state_dict()) in Python, or a dpforge model.pt) the built
  /// model starts from, every name and shape checked (nn/state_dict.h); empty: random weights.
  /// DP covers the training from it: its weights must not depend on the private data.
  DPF_ARG(std::string, init) = "";
  /// The parameters that train (nn/trainable.h patterns: names, modules, globs, last, all); the
  /// others are frozen at their initial weights: no per-example gradient, no noise, no update.
  DPF_ARG(std::string, trainable) = "all";
};

/// Whether `model` holds a dropout module of any kind: its draws come from LibTorch's one global
/// generator, so work on several threads at once would draw in the threads' order
/// (dp/step_workers.h, run/shadow_audit.h).
bool has_dropout(const torch::nn::Module& model);

/// While alive, every dropout module of a model in training mode passes its input through (eval
/// mode), so that a forward is a deterministic function of its examples and draws nothing from the
/// global generator; the other modules keep their mode. Restores training mode on destruction.
class DropoutOff {
 public:
  explicit DropoutOff(torch::nn::Module& model);
  ~DropoutOff();
  DropoutOff(const DropoutOff&) = delete;
  DropoutOff& operator=(const DropoutOff&) = delete;

 private:
  std::vector<std::shared_ptr<torch::nn::Module>> switched_;
};

/// The smallest side of an image cnn_tanh takes (two strided convolutions and two poolings).
inline constexpr int64_t kCnnTanhMinSide = 16;

/// `options` with arch = auto resolved for examples of `shape`: cnn_tanh for C x H x W images of
/// at least kCnnTanhMinSide pixels a side (Fashion-MNIST), mlp for everything else (a table's
/// features, flat vectors, small images, which it flattens). Other architectures are kept.
ModelOptions resolved(ModelOptions options, const std::vector<int64_t>& shape);

/// The layer string of `options`' architecture: the preset's (every preset is built from it), or
/// options.layers. arch = auto must be resolved() first (std::invalid_argument otherwise).
std::string preset_layers(const ModelOptions& options);

/// Builds the model `options` names for examples of `shape` (C x H x W images, F features, or T
/// token ids) and `outputs` outputs; InputError when the architecture cannot take that shape:
///  - mlp: flatten → Linear(features, h) → tanh → Linear(h, h) → tanh → Linear(h, outputs);
///  - cnn_tanh: Tramèr & Boneh (2021), 26,010 parameters: conv 16@8x8 s2 p2 → tanh → maxpool 2 s1
///    → conv 32@4x4 s2 → tanh → maxpool 2 s1 → Linear(512, 32) → tanh → Linear(32, classes)
///    (512 for 28 x 28; images of at least 16 x 16);
///  - wrn16_4: pre-activation wide ResNet, depth 16, width 4, GroupNorm(16) instead of BatchNorm;
///  - layers: options.layers;
///  - auto: one of the above, by resolved().
/// With options.init, the weights are then loaded from that file; then every parameter that
/// options.trainable does not select is frozen (nn/trainable.h).
torch::nn::Sequential make_model(const ModelOptions& options, const std::vector<int64_t>& shape,
                                 int64_t outputs);

/// For 1 x 28 x 28 images (Fashion-MNIST) and `num_classes` classes.
torch::nn::Sequential make_model(const ModelOptions& options, int64_t num_classes = 10);

/// For the examples and task of `like` (its example shape; K, or 1 output for binary/regression).
/// A table with embedded categorical features (like.category_codes) gets the mlp behind a
/// TabularEmbedding (blocks.h); other architectures refuse it.
torch::nn::Sequential make_model(const ModelOptions& options, const data::Dataset& like);

/// make_model with its initialization drawn from `seed`: torch's global generator is seeded and
/// held (core/random.h torch_generator_mutex) while the weights are drawn, so a model the auditor
/// trains for itself (shadow models, input canaries) repeats whatever ran before it and however
/// many are made at once.
torch::nn::Sequential make_model(const ModelOptions& options, const data::Dataset& like,
                                 uint64_t seed);

/// What each layer of make_model(options, like) is (layer_builder.h), for model.json: a
/// TabularEmbedding in front (like.category_codes) is not a layer of the string.
std::vector<BuiltLayer> model_layers(const ModelOptions& options, const data::Dataset& like);

/// Number of trainable scalars.
int64_t count_parameters(const torch::nn::Module& model);

}  // namespace dpforge::nn
