// SPDX-License-Identifier: Apache-2.0
// The layer language of `model.layers`: a network written as a sequence of layers, each a name
// with optional arguments, sizes left to be inferred from the data (nn/layer_builder.h).
//
// Example:
//   conv(16, k=8, s=2, p=2) tanh maxpool(2, s=1) conv(32, k=4, s=2) tanh maxpool(2, s=1)
//   flatten linear(32) tanh linear(out)
//
// Grammar: layers := layer*; layer := name | name "(" arguments ")"; arguments := argument
// ("," argument)*; argument := value | key "=" value. `residual(...)` holds a layer sequence
// instead of arguments. Names, keys and values are letters, digits, '_', '.', '-' and '+'.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dpforge::nn {

struct LayerSpec {
  std::string type;                            // "conv", "linear", ...
  std::vector<std::string> arguments;          // positional, in order
  std::map<std::string, std::string> options;  // key=value
  std::vector<LayerSpec> body;                 // residual: the layers inside
  std::string text;                            // as written, for messages
};

/// Parses a layer string; InputError naming `key`, the character position and what was expected.
std::vector<LayerSpec> parse_layers(std::string_view text, std::string_view key = "model.layers");

/// The layers as one normalized string (what parse_layers reads back to the same specs).
std::string to_string(const std::vector<LayerSpec>& layers);

}  // namespace dpforge::nn
