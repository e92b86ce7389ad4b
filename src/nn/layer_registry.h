// SPDX-License-Identifier: Apache-2.0
// The layer language's registry (private to nn): each layer type of model.layers in one entry, its
// name, its parameters with their defaults, what it needs at its input and how it is built
// (layer_builder.cpp threads the shapes through them; docs/models.md lists them).
#pragma once
#include <torch/nn/modules/container/any.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/layer_spec.h"

namespace dpforge::nn::detail {

// How a layer parameter's text is read. Only an output size may be `out` (the task's outputs).
enum class Value { kSize, kOutputs, kCount, kFraction, kFlag };

struct Param {
  std::string_view name;
  Value value;
  // "" = required; else the default's text, or the name of an earlier parameter it defaults to.
  std::string_view fallback;
};

// What a layer needs of one example's shape at its input.
enum class Input { kAny, kFeatures, kChannels, kImage, kTokens };

class Read;
using Build = torch::nn::AnyModule (*)(const Read& read, const std::vector<int64_t>& shape);
// How the DP engine will compute the layer's per-example gradient norm, from one example's input
// and output shapes (dp/per_sample.h's mixed rule, which PerSampleLayer applies to the same
// numbers); nullptr for a layer without parameters.
using NormRule = dp::NormMethod (*)(const Read& read, const std::vector<int64_t>& in,
                                    const std::vector<int64_t>& out);

// One layer type: its name, its parameters (the first `positional` may be written without their
// names, in this order), what it needs at its input, how it is built and how its per-example
// norm is computed. Every parameterized layer it builds is a DP layer (layers.h).
struct LayerType {
  std::string_view name;
  size_t positional;
  std::vector<Param> params;
  Input input;
  Build build;
  NormRule norm;
};

// One layer's parameters, resolved (defaults filled in) and checked when constructed; every
// message names the layer's position and text (`where`).
class Read {
 public:
  Read(const LayerType& type, const LayerSpec& spec, std::string where, int64_t outputs);

  int64_t size(const char* name) const { return static_cast<int64_t>(values_.at(name)); }
  double number(const char* name) const { return values_.at(name); }
  bool flag(const char* name) const { return values_.at(name) != 0; }
  [[noreturn]] void fail(const std::string& problem) const;
  /// Every parameter's value, defaults filled in (model.json's layer list).
  const std::map<std::string, double>& values() const { return values_; }

 private:
  double parse(const Param& param, const std::string& text, int64_t outputs) const;
  int64_t whole(const std::string& name, const std::string& text, int64_t low) const;

  std::string where_;
  std::map<std::string, double> values_;
};

/// The language's layer types (`residual(...)`, which holds layers, is the builder's own).
const std::vector<LayerType>& layer_types();
/// The entry named `name`, or nullptr.
const LayerType* find_layer_type(std::string_view name);

}  // namespace dpforge::nn::detail
