// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layer_builder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <charconv>
#include <set>

#include "dpforge/core/error.h"
#include "dpforge/nn/layers.h"

namespace dpforge::nn {
namespace {

std::string example_text(const std::vector<int64_t>& shape) {
  return shape.empty() ? "a scalar" : fmt::format("{}", fmt::join(shape, " x "));
}

// One layer's arguments, read with its position and text in every message.
class Arguments {
 public:
  Arguments(const LayerSpec& spec, std::string where, std::set<std::string> keys,
            size_t max_positional)
      : spec_(spec), where_(std::move(where)) {
    if (spec.arguments.size() > max_positional) {
      fail(fmt::format("takes at most {} positional argument{}", max_positional,
                       max_positional == 1 ? "" : "s"));
    }
    for (const auto& [key, value] : spec.options) {
      if (keys.count(key) == 0) {
        fail(fmt::format("has no option '{}' (options: {})", key,
                         keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", "))));
      }
    }
  }

  /// Positional `index` (or option `key`): a size ≥ 1, or `out` for the task's outputs.
  int64_t size(size_t index, const char* what, int64_t outputs, const char* key = nullptr) const {
    const std::string* text = index < spec_.arguments.size() ? &spec_.arguments[index] : nullptr;
    if (text == nullptr && key != nullptr && spec_.options.count(key) > 0)
      text = &spec_.options.at(key);
    if (text == nullptr) fail(fmt::format("needs {} (a whole number, or out)", what));
    if (*text == "out") return outputs;
    return whole(*text, what, 1);
  }
  int64_t option(const char* key, int64_t fallback, int64_t low) const {
    const auto found = spec_.options.find(key);
    return found == spec_.options.end() ? fallback : whole(found->second, key, low);
  }
  double fraction(size_t index, const char* what, double fallback) const {
    if (index >= spec_.arguments.size()) return fallback;
    const auto& text = spec_.arguments[index];
    double value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || !(value >= 0 && value < 1))
      fail(fmt::format("{} = '{}' must be a number in [0, 1)", what, text));
    return value;
  }
  bool flag(const char* key, bool fallback) const {
    const auto found = spec_.options.find(key);
    if (found == spec_.options.end()) return fallback;
    if (found->second != "true" && found->second != "false")
      fail(fmt::format("{} = '{}' must be true or false", key, found->second));
    return found->second == "true";
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw_input_error("{}: {}", where_, problem);
  }

 private:
  int64_t whole(const std::string& text, const char* what, int64_t low) const {
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    // A bound that keeps every layer's weight tensor allocatable, so a typo is an error, not an
    // out-of-memory crash.
    constexpr int64_t kLargest = 1 << 20;
    if (error != std::errc() || end != text.data() + text.size() || value < low || value > kLargest)
      fail(fmt::format("{} = '{}' must be a whole number in [{}, {}]", what, text, low, kLargest));
    return value;
  }
  const LayerSpec& spec_;
  std::string where_;
};

// The state threaded through the layers: one example's shape, whether it holds token ids.
struct Flow {
  std::vector<int64_t> shape;
  int64_t outputs = 0;
  std::string key;
};

void require_image(const Arguments& args, const Flow& flow) {
  if (flow.shape.size() != 3)
    args.fail(fmt::format("needs C x H x W input, got {}", example_text(flow.shape)));
}

torch::nn::AnyModule parameterized_layer(const LayerSpec& spec, const std::string& where,
                                         const Flow& flow) {
  const auto& shape = flow.shape;
  if (spec.type == "linear") {
    const Arguments args(spec, where, {"bias"}, 1);
    if (shape.empty()) args.fail("needs features, got a scalar");
    return torch::nn::AnyModule(Linear(LinearOptions(shape.back(), args.size(0, "n", flow.outputs))
                                           .bias(args.flag("bias", true))));
  }
  if (spec.type == "conv") {
    const Arguments args(spec, where, {"k", "s", "p", "d", "bias"}, 1);
    require_image(args, flow);
    return torch::nn::AnyModule(
        Conv2d(Conv2dOptions(shape[0], args.size(0, "n", flow.outputs), args.option("k", 3, 1))
                   .stride(args.option("s", 1, 1))
                   .padding(args.option("p", 0, 0))
                   .dilation(args.option("d", 1, 1))
                   .bias(args.flag("bias", true))));
  }
  if (spec.type == "layernorm") {
    const Arguments args(spec, where, {}, 0);
    if (shape.empty()) args.fail("needs features, got a scalar");
    return torch::nn::AnyModule(LayerNorm(LayerNormOptions({shape.back()})));
  }
  const Arguments args(spec, where, {}, 1);  // groupnorm
  if (shape.empty()) args.fail("needs channels, got a scalar");
  const int64_t groups = args.size(0, "the number of groups", flow.outputs);
  if (shape[0] % groups != 0)
    args.fail(fmt::format("{} channels do not split into {} groups", shape[0], groups));
  return torch::nn::AnyModule(GroupNorm(GroupNormOptions(groups, shape[0])));
}

torch::nn::AnyModule pooling_layer(const LayerSpec& spec, const std::string& where,
                                   const Flow& flow) {
  if (spec.type == "adaptiveavgpool") {
    const Arguments args(spec, where, {}, 1);
    require_image(args, flow);
    const int64_t side = spec.arguments.empty() ? 1 : args.size(0, "the output side", 1);
    return torch::nn::AnyModule(torch::nn::AdaptiveAvgPool2d(side));
  }
  const Arguments args(spec, where, {"s", "p"}, 1);
  require_image(args, flow);
  const int64_t k = args.size(0, "the kernel size k", flow.outputs);
  const int64_t s = args.option("s", k, 1), p = args.option("p", 0, 0);
  if (spec.type == "maxpool")
    return torch::nn::AnyModule(
        torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(k).stride(s).padding(p)));
  return torch::nn::AnyModule(
      torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(k).stride(s).padding(p)));
}

std::optional<torch::nn::AnyModule> simple_layer(const LayerSpec& spec, const std::string& where) {
  const auto& type = spec.type;
  auto no_arguments = [&] { (void)Arguments(spec, where, {}, 0); };
  if (type == "relu") return (no_arguments(), torch::nn::AnyModule(torch::nn::ReLU()));
  if (type == "tanh") return (no_arguments(), torch::nn::AnyModule(torch::nn::Tanh()));
  if (type == "gelu") return (no_arguments(), torch::nn::AnyModule(torch::nn::GELU()));
  if (type == "elu") return (no_arguments(), torch::nn::AnyModule(torch::nn::ELU()));
  if (type == "sigmoid") return (no_arguments(), torch::nn::AnyModule(torch::nn::Sigmoid()));
  if (type == "flatten") return (no_arguments(), torch::nn::AnyModule(torch::nn::Flatten()));
  if (type == "dropout") {
    const Arguments args(spec, where, {}, 1);
    return torch::nn::AnyModule(
        torch::nn::Dropout(torch::nn::DropoutOptions(args.fraction(0, "p", 0.5))));
  }
  return std::nullopt;
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
  throw_input_error(
      "{}: unknown layer '{}'; layers: linear, conv, embedding, layernorm, groupnorm, relu, tanh, "
      "gelu, elu, sigmoid, maxpool, avgpool, adaptiveavgpool, flatten, dropout, residual",
      where, type);
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
  const auto& out = flow.shape;
  if (out != in) {
    const bool images = in.size() == 3 && out.size() == 3 && in[1] % out[1] == 0 &&
                        in[2] % out[2] == 0 && in[1] / out[1] == in[2] / out[2];
    if (images) {
      shortcut =
          torch::nn::Sequential(Conv2d(Conv2dOptions(in[0], out[0], 1).stride(in[1] / out[1])));
    } else if (in.size() == 1 && out.size() == 1) {
      shortcut = torch::nn::Sequential(Linear(LinearOptions(in[0], out[0])));
    } else {
      throw_input_error(
          "{}: the body maps {} to {}; a residual needs the same shape, or images whose side "
          "shrinks by a whole stride (a 1x1 conv shortcut), or features (a linear shortcut)",
          where, example_text(in), example_text(out));
    }
  }
  model->push_back(Residual(body, shortcut));
  built.push_back({position, spec.text, out});
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
    std::optional<torch::nn::AnyModule> module;
    if (spec.type == "embedding") {
      const Arguments args(spec, where, {}, 2);
      if (!(prefix.empty() && i == 0)) args.fail("takes token ids: it must be the first layer");
      if (flow.shape.size() != 1)
        args.fail(fmt::format("needs T token ids per example, got {}", example_text(flow.shape)));
      model->push_back(
          torch::nn::Functional([](const torch::Tensor& x) { return x.to(torch::kLong); }));
      module = torch::nn::AnyModule(Embedding(EmbeddingOptions(
          args.size(0, "the vocabulary size", flow.outputs), args.size(1, "dim", flow.outputs))));
      indices = true;
    } else if (spec.type == "linear" || spec.type == "conv" || spec.type == "layernorm" ||
               spec.type == "groupnorm") {
      module = parameterized_layer(spec, where, flow);
    } else if (spec.type == "maxpool" || spec.type == "avgpool" || spec.type == "adaptiveavgpool") {
      module = pooling_layer(spec, where, flow);
    } else {
      module = simple_layer(spec, where);
      if (!module) refuse(spec, where);
    }
    flow.shape = output_shape(*module, flow, indices, where);
    indices = false;
    model->push_back(std::move(*module));
    built.push_back({position, spec.text, flow.shape});
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
