// SPDX-License-Identifier: Apache-2.0
// Networks from the layer language (layer_spec.h): each layer's input size is the previous layer's
// output, found by passing one zero example through it, so a recipe writes output sizes only and
// `out` for the task's outputs. Every parameterized layer is a dpforge DP layer (layers.h), so the
// result trains privately; layers the DP engine cannot clip are refused with their replacement.
//
// Example:
//   auto model = nn::build_layers(nn::parse_layers("flatten linear(64) relu linear(out)"),
//                                 /*example_shape=*/{1, 28, 28}, /*outputs=*/10);
//
// Layers: linear(n), conv(n, k=3, s=1, p=0, d=1), embedding(vocabulary, dim) (token ids, T per
// example → T x dim), layernorm (over the last dimension), groupnorm(groups), relu, tanh, gelu,
// elu, sigmoid, maxpool(k, s=k, p=0), avgpool(k, s=k, p=0), adaptiveavgpool(n=1), flatten,
// dropout(p), residual(layers...) (x + layers(x), with a 1x1 conv or linear projection when the
// shape changes). linear and conv take bias=false. Every parameter may be written by name
// (conv(n=16, k=3)); `out` only as an output size (linear's or conv's n).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/layer_spec.h"

namespace dpforge::nn {

/// One layer as built: its position ("3", or "4.2" inside a residual), its text and output shape,
/// and how the DP engine computes its per-example norm (a residual's: its projection's, if any).
struct BuiltLayer {
  std::string position;
  std::string text;
  std::vector<int64_t> output_shape;        // one example's
  std::optional<dp::NormMethod> norm;       // none: no parameters
  std::string type;                         // "linear", "residual", ...
  std::map<std::string, double> arguments;  // every parameter, defaults filled in (`out` resolved)
};

/// Appends `layers` to `model` for examples of `example_shape` (C x H x W, F, or T token ids) and
/// `outputs` outputs; returns what each layer became. InputError names the layer, its position and
/// the shape that did not fit (`key` names the recipe key in messages).
std::vector<BuiltLayer> append_layers(torch::nn::Sequential& model,
                                      const std::vector<LayerSpec>& layers,
                                      std::vector<int64_t> example_shape, int64_t outputs,
                                      const std::string& key = "model.layers");

/// A new Sequential of `layers` (append_layers).
torch::nn::Sequential build_layers(const std::vector<LayerSpec>& layers,
                                   const std::vector<int64_t>& example_shape, int64_t outputs,
                                   const std::string& key = "model.layers");

/// x + body(x), the shortcut a projection (1x1 conv with stride, or a linear) when the body
/// changes the shape. Not Cloneable: its parts come from a layer string, not from options.
class ResidualImpl : public torch::nn::Module {
 public:
  /// `shortcut`: the projection (a Sequential of one layer), or nullptr for the identity.
  ResidualImpl(torch::nn::Sequential body, torch::nn::Sequential shortcut);
  torch::Tensor forward(const torch::Tensor& input);

  torch::nn::Sequential body{nullptr}, shortcut{nullptr};
};
TORCH_MODULE(Residual);

}  // namespace dpforge::nn
