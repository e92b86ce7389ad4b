// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as a `model.layers` string. The parser accepts it or refuses it with
// an InputError naming the position; an accepted string prints back (nn::to_string) to a string
// that parses to the same layers. Small networks are also built for a 1x8x8 image and for 6
// features: every layer's arguments are validated (an InputError naming the layer), never a
// LibTorch error or a crash. (Sizes over 64 are not built: a recipe may ask for any size.)
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dpforge/core/error.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/layer_spec.h"
#include "fuzz/fuzz_entry.h"

namespace {

// Whether every number in the string is at most 64 (and there are not many layers).
bool small(std::string_view text) {
  int64_t number = 0, layers = 0;
  for (const char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      number = number * 10 + (c - '0');
      if (number > 64) return false;
    } else {
      number = 0;
    }
    layers += c == ' ';
  }
  return layers < 40;
}

}  // namespace

DPFORGE_FUZZ_ENTRY(layers) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto layers = dpforge::nn::parse_layers(text);
    const auto printed = dpforge::nn::to_string(layers);
    if (dpforge::nn::to_string(dpforge::nn::parse_layers(printed)) != printed) __builtin_trap();
    if (!small(text)) return 0;
    for (const auto& shape : {std::vector<int64_t>{1, 8, 8}, std::vector<int64_t>{6}}) {
      try {
        dpforge::nn::build_layers(layers, shape, 3);
      } catch (const dpforge::InputError&) {
      }
    }
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
