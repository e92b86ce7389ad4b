// SPDX-License-Identifier: Apache-2.0
#include "src/nn/layer_registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "dpforge/core/error.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/pooling.h"

namespace dpforge::nn::detail {
namespace {

// "conv takes n, k=3, s=1, p=0, d=1, bias=true": what a message shows of a layer's parameters.
std::string signature(const LayerType& type) {
  std::vector<std::string> parts;
  for (const auto& param : type.params) {
    parts.push_back(param.fallback.empty() ? std::string(param.name)
                                           : fmt::format("{}={}", param.name, param.fallback));
  }
  return parts.empty() ? fmt::format("{} takes no parameters", type.name)
                       : fmt::format("{} takes {}", type.name, fmt::join(parts, ", "));
}

template <typename Module>
torch::nn::AnyModule plain(const Read&, const std::vector<int64_t>&) {
  return torch::nn::AnyModule(Module());
}

dp::NormMethod norm_statistics(const Read&, const std::vector<int64_t>&,
                               const std::vector<int64_t>&) {
  return dp::NormMethod::kNormStatistics;
}

torch::nn::AnyModule pool(const Read& read, bool max) {
  const int64_t k = read.size("k"), s = read.size("s"), p = read.size("p");
  if (max) return torch::nn::AnyModule(MaxPool2d(MaxPool2dOptions(k).stride(s).padding(p)));
  return torch::nn::AnyModule(
      torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(k).stride(s).padding(p)));
}

}  // namespace

Read::Read(const LayerType& type, const LayerSpec& spec, std::string where, int64_t outputs)
    : where_(std::move(where)) {
  if (spec.arguments.size() > type.positional) {
    fail(fmt::format("takes at most {} positional argument{}", type.positional,
                     type.positional == 1 ? "" : "s"));
  }
  for (const auto& [key, text] : spec.options) {
    const bool known = std::any_of(type.params.begin(), type.params.end(),
                                   [&](const Param& param) { return param.name == key; });
    if (!known) fail(fmt::format("has no option '{}' ({})", key, signature(type)));
  }
  for (size_t i = 0; i < type.params.size(); ++i) {
    const Param& param = type.params[i];
    const std::string name(param.name);
    const bool named = spec.options.count(name) > 0;
    if (named && i < spec.arguments.size())
      fail(fmt::format("{} is given twice (by position and by name)", name));
    std::string text = i < spec.arguments.size() ? spec.arguments[i]
                       : named                   ? spec.options.at(name)
                                                 : std::string(param.fallback);
    if (text.empty()) fail(fmt::format("needs {} ({})", name, signature(type)));
    if (!named && i >= spec.arguments.size() && values_.count(text) > 0) {
      values_[name] = values_.at(text);  // defaults to an earlier parameter (maxpool's s = k)
      continue;
    }
    values_[name] = parse(param, text, outputs);
  }
}

void Read::fail(const std::string& problem) const { throw_input_error("{}: {}", where_, problem); }

double Read::parse(const Param& param, const std::string& text, int64_t outputs) const {
  const std::string name(param.name);
  if (text == "out") {
    if (param.value != Value::kOutputs) {
      fail(
          fmt::format("{} = out: only an output size (linear's or conv's n) can be out, the "
                      "task's {} outputs",
                      name, outputs));
    }
    return static_cast<double>(outputs);
  }
  switch (param.value) {
    case Value::kSize:
    case Value::kOutputs:
      return static_cast<double>(whole(name, text, 1));
    case Value::kCount:
      return static_cast<double>(whole(name, text, 0));
    case Value::kFraction: {
      double value = 0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || !(value >= 0 && value < 1))
        fail(fmt::format("{} = '{}' must be a number in [0, 1)", name, text));
      return value;
    }
    case Value::kFlag:
      if (text != "true" && text != "false")
        fail(fmt::format("{} = '{}' must be true or false", name, text));
      return text == "true" ? 1.0 : 0.0;
  }
  throw std::logic_error("layer parameter of an unknown kind");
}

int64_t Read::whole(const std::string& name, const std::string& text, int64_t low) const {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  // A bound that keeps every layer's weight tensor allocatable, so a typo is an error, not an
  // out-of-memory crash.
  constexpr int64_t kLargest = 1 << 20;
  if (error != std::errc() || end != text.data() + text.size() || value < low || value > kLargest)
    fail(fmt::format("{} = '{}' must be a whole number in [{}, {}]", name, text, low, kLargest));
  return value;
}

// The language's layers, one entry each (`residual(...)`, which holds layers, is append_residual).
const std::vector<LayerType>& layer_types() {
  static const std::vector<LayerType> types = {
      {"linear",
       1,
       {{"n", Value::kOutputs, ""}, {"bias", Value::kFlag, "true"}},
       Input::kFeatures,
       [](const Read& read, const std::vector<int64_t>& shape) {
         return torch::nn::AnyModule(
             Linear(LinearOptions(shape.back(), read.size("n")).bias(read.flag("bias"))));
       },
       [](const Read&, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
         // Every position before the features is a token of the same example.
         const int64_t tokens = c10::multiply_integers(in.begin(), in.end() - 1);
         return dp::linear_norm_method(tokens, in.back(), out.back());
       }},
      {"conv",
       1,
       {{"n", Value::kOutputs, ""},
        {"k", Value::kSize, "3"},
        {"s", Value::kSize, "1"},
        {"p", Value::kCount, "0"},
        {"d", Value::kSize, "1"},
        {"bias", Value::kFlag, "true"}},
       Input::kImage,
       [](const Read& read, const std::vector<int64_t>& shape) {
         return torch::nn::AnyModule(Conv2d(Conv2dOptions(shape[0], read.size("n"), read.size("k"))
                                                .stride(read.size("s"))
                                                .padding(read.size("p"))
                                                .dilation(read.size("d"))
                                                .bias(read.flag("bias"))));
       },
       [](const Read& read, const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
         return dp::conv_norm_method(out[1] * out[2], in[0], out[0], read.size("k"));
       }},
      {"embedding",
       2,
       {{"vocabulary", Value::kSize, ""}, {"dim", Value::kSize, ""}},
       Input::kTokens,
       [](const Read& read, const std::vector<int64_t>&) {
         return torch::nn::AnyModule(
             Embedding(EmbeddingOptions(read.size("vocabulary"), read.size("dim"))));
       },
       [](const Read&, const std::vector<int64_t>&, const std::vector<int64_t>&) {
         return dp::NormMethod::kEmbedding;
       }},
      {"layernorm",
       0,
       {},
       Input::kFeatures,
       [](const Read&, const std::vector<int64_t>& shape) {
         return torch::nn::AnyModule(LayerNorm(LayerNormOptions({shape.back()})));
       },
       norm_statistics},
      {"groupnorm",
       1,
       {{"groups", Value::kSize, ""}},
       Input::kChannels,
       [](const Read& read, const std::vector<int64_t>& shape) {
         const int64_t groups = read.size("groups");
         if (shape[0] % groups != 0)
           read.fail(fmt::format("{} channels do not split into {} groups", shape[0], groups));
         return torch::nn::AnyModule(GroupNorm(GroupNormOptions(groups, shape[0])));
       },
       norm_statistics},
      {"relu", 0, {}, Input::kAny, plain<torch::nn::ReLU>, nullptr},
      {"tanh", 0, {}, Input::kAny, plain<torch::nn::Tanh>, nullptr},
      {"gelu", 0, {}, Input::kAny, plain<torch::nn::GELU>, nullptr},
      {"elu", 0, {}, Input::kAny, plain<torch::nn::ELU>, nullptr},
      {"sigmoid", 0, {}, Input::kAny, plain<torch::nn::Sigmoid>, nullptr},
      {"maxpool",
       1,
       {{"k", Value::kSize, ""}, {"s", Value::kSize, "k"}, {"p", Value::kCount, "0"}},
       Input::kImage,
       [](const Read& read, const std::vector<int64_t>&) { return pool(read, true); },
       nullptr},
      {"avgpool",
       1,
       {{"k", Value::kSize, ""}, {"s", Value::kSize, "k"}, {"p", Value::kCount, "0"}},
       Input::kImage,
       [](const Read& read, const std::vector<int64_t>&) { return pool(read, false); },
       nullptr},
      {"adaptiveavgpool",
       1,
       {{"n", Value::kSize, "1"}},
       Input::kImage,
       [](const Read& read, const std::vector<int64_t>&) {
         return torch::nn::AnyModule(torch::nn::AdaptiveAvgPool2d(read.size("n")));
       },
       nullptr},
      {"flatten", 0, {}, Input::kAny, plain<torch::nn::Flatten>, nullptr},
      {"dropout",
       1,
       {{"p", Value::kFraction, "0.5"}},
       Input::kAny,
       [](const Read& read, const std::vector<int64_t>&) {
         return torch::nn::AnyModule(
             torch::nn::Dropout(torch::nn::DropoutOptions(read.number("p"))));
       },
       nullptr},
  };
  return types;
}

const LayerType* find_layer_type(std::string_view name) {
  for (const auto& type : layer_types())
    if (type.name == name) return &type;
  return nullptr;
}

}  // namespace dpforge::nn::detail
