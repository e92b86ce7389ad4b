// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layer_builder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <string_view>

#include "dpforge/core/error.h"
#include "dpforge/nn/layers.h"
#include "src/nn/layer_registry.h"

namespace dpforge::nn {
namespace {

using detail::find_layer_type;
using detail::Input;
using detail::LayerType;
using detail::Read;

std::string example_text(const std::vector<int64_t>& shape) {
  return shape.empty() ? "a scalar" : fmt::format("{}", fmt::join(shape, " x "));
}

[[noreturn]] void refuse(const LayerSpec& spec, const std::string& where) {
  const auto& type = spec.type;
  if (type.find("batchnorm") != std::string::npos ||
      type.find("instancenorm") != std::string::npos) {
    throw_input_error(
        "{}: {} normalizes over the examples of a batch, so one example's gradient would depend "
        "on the others and per-example clipping would bound nothing; use groupnorm(groups) (or "
        "layernorm), which normalizes each example on its own",
        where, type);
  }
  std::vector<std::string_view> names;
  for (const auto& known : detail::layer_types()) names.push_back(known.name);
  throw_input_error("{}: unknown layer '{}'; layers: {}, residual", where, type,
                    fmt::join(names, ", "));
}

// The state threaded through the layers: one example's shape.
struct Flow {
  std::vector<int64_t> shape;
  int64_t outputs = 0;
  std::string key;
};

void check_input(const LayerType& type, const Read& read, const Flow& flow, bool first) {
  const auto& shape = flow.shape;
  switch (type.input) {
    case Input::kAny:
      return;
    case Input::kFeatures:
      if (shape.empty()) read.fail("needs features, got a scalar");
      return;
    case Input::kChannels:
      if (shape.empty()) read.fail("needs channels, got a scalar");
      return;
    case Input::kImage:
      if (shape.size() != 3)
        read.fail(fmt::format("needs C x H x W input, got {}", example_text(shape)));
      return;
    case Input::kTokens:
      if (!first) read.fail("takes token ids: it must be the first layer");
      if (shape.size() != 1)
        read.fail(fmt::format("needs T token ids per example, got {}", example_text(shape)));
      return;
  }
}

// One zero example through `module` (evaluation mode, no gradient): its output shape.
std::vector<int64_t> output_shape(torch::nn::AnyModule& module, const Flow& flow, bool indices,
                                  const std::string& where) {
  torch::NoGradGuard no_grad;
  module.ptr()->eval();
  std::vector<int64_t> batch = {1};
  batch.insert(batch.end(), flow.shape.begin(), flow.shape.end());
  try {
    const auto out = module.forward(torch::zeros(batch, indices ? torch::kLong : torch::kFloat32));
    module.ptr()->train();
    return {out.sizes().begin() + 1, out.sizes().end()};
  } catch (const c10::Error& error) {
    const std::string message = error.what_without_backtrace();
    throw_input_error("{}: does not fit its input of {} ({})", where, example_text(flow.shape),
                      message.substr(0, message.find('\n')));
  }
}

std::vector<BuiltLayer> append(torch::nn::Sequential& model, const std::vector<LayerSpec>& layers,
                               Flow& flow, const std::string& prefix);

void append_residual(torch::nn::Sequential& model, const LayerSpec& spec, Flow& flow,
                     const std::string& position, const std::string& where,
                     std::vector<BuiltLayer>& built) {
  if (spec.body.empty()) throw_input_error("{}: residual() holds no layers", where);
  const auto in = flow.shape;
  torch::nn::Sequential body;
  auto inner = append(body, spec.body, flow, position + ".");
  torch::nn::Sequential shortcut{nullptr};
  std::optional<dp::NormMethod> shortcut_norm;
  const auto& out = flow.shape;
  if (out != in) {
    const bool images = in.size() == 3 && out.size() == 3 && in[1] % out[1] == 0 &&
                        in[2] % out[2] == 0 && in[1] / out[1] == in[2] / out[2];
    if (images) {
      shortcut =
          torch::nn::Sequential(Conv2d(Conv2dOptions(in[0], out[0], 1).stride(in[1] / out[1])));
      shortcut_norm = dp::conv_norm_method(out[1] * out[2], in[0], out[0], 1);
    } else if (in.size() == 1 && out.size() == 1) {
      shortcut = torch::nn::Sequential(Linear(LinearOptions(in[0], out[0])));
      shortcut_norm = dp::linear_norm_method(1, in[0], out[0]);
    } else {
      throw_input_error(
          "{}: the body maps {} to {}; a residual needs the same shape, or images whose side "
          "shrinks by a whole stride (a 1x1 conv shortcut), or features (a linear shortcut)",
          where, example_text(in), example_text(out));
    }
  }
  model->push_back(Residual(body, shortcut));
  built.push_back({position, spec.text, out, shortcut_norm, "residual", {}});
  built.insert(built.end(), inner.begin(), inner.end());
}

std::vector<BuiltLayer> append(torch::nn::Sequential& model, const std::vector<LayerSpec>& layers,
                               Flow& flow, const std::string& prefix) {
  std::vector<BuiltLayer> built;
  bool indices = false;  // token ids flow into an embedding only as the first layer
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& spec = layers[i];
    const std::string position = prefix + std::to_string(i + 1);
    const std::string where = fmt::format("{}: layer {} {}", flow.key, position, spec.text);
    if (spec.type == "residual") {
      append_residual(model, spec, flow, position, where, built);
      continue;
    }
    const LayerType* type = find_layer_type(spec.type);
    if (type == nullptr) refuse(spec, where);
    const Read read(*type, spec, where, flow.outputs);
    check_input(*type, read, flow, prefix.empty() && i == 0);
    std::optional<torch::nn::AnyModule> module = type->build(read, flow.shape);
    if (type->input == Input::kTokens) {
      model->push_back(
          torch::nn::Functional([](const torch::Tensor& x) { return x.to(torch::kLong); }));
      indices = true;
    }
    auto in = flow.shape;
    flow.shape = output_shape(*module, flow, indices, where);
    indices = false;
    model->push_back(std::move(*module));
    std::optional<dp::NormMethod> norm;
    if (type->norm != nullptr) norm = type->norm(read, in, flow.shape);
    built.push_back({position, spec.text, flow.shape, norm, spec.type, read.values()});
  }
  return built;
}

}  // namespace

ResidualImpl::ResidualImpl(torch::nn::Sequential body_, torch::nn::Sequential shortcut_)
    : body(register_module("body", std::move(body_))) {
  if (shortcut_) shortcut = register_module("shortcut", std::move(shortcut_));
}

torch::Tensor ResidualImpl::forward(const torch::Tensor& input) {
  // Body first, then the shortcut: the tape records the layers in the order of parameters().
  auto out = body->forward(input);
  return out + (shortcut ? shortcut->forward(input) : input);
}

std::vector<BuiltLayer> append_layers(torch::nn::Sequential& model,
                                      const std::vector<LayerSpec>& layers,
                                      std::vector<int64_t> example_shape, int64_t outputs,
                                      const std::string& key) {
  Flow flow{std::move(example_shape), outputs, key};
  return append(model, layers, flow, "");
}

torch::nn::Sequential build_layers(const std::vector<LayerSpec>& layers,
                                   const std::vector<int64_t>& example_shape, int64_t outputs,
                                   const std::string& key) {
  torch::nn::Sequential model;
  append_layers(model, layers, example_shape, outputs, key);
  return model;
}

}  // namespace dpforge::nn
