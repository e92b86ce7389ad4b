// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/layer_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "dpforge/core/error.h"

namespace dpforge::nn {
namespace {

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-' ||
         c == '+';
}

// Recursive descent over the text; `at` is the next unread character.
class Parser {
 public:
  Parser(std::string_view text, std::string_view key) : text_(text), key_(key) {}

  std::vector<LayerSpec> layers(bool nested) {
    std::vector<LayerSpec> result;
    for (skip_space(); at_ < text_.size(); skip_space()) {
      if (text_[at_] == ')') {
        if (nested) return result;
        fail("an unmatched ')'");
      }
      result.push_back(layer());
    }
    if (nested) fail("')' to close residual(");
    return result;
  }

 private:
  LayerSpec layer() {
    const size_t start = at_;
    LayerSpec spec;
    spec.type = word("a layer name");
    skip_space();
    if (at_ < text_.size() && text_[at_] == '(') {
      ++at_;
      if (spec.type == "residual") {
        if (++depth_ > kMaxDepth)
          fail_at(at_, fmt::format("residuals nested over {} deep", kMaxDepth));
        spec.body = layers(/*nested=*/true);
        --depth_;
      } else {
        arguments(spec);
      }
      expect(')');
    }
    spec.text = std::string(text_.substr(start, at_ - start));
    return spec;
  }

  void arguments(LayerSpec& spec) {
    skip_space();
    if (at_ < text_.size() && text_[at_] == ')') return;  // name()
    for (;;) {
      const std::string first = word("an argument");
      skip_space();
      if (at_ < text_.size() && text_[at_] == '=') {
        ++at_;
        skip_space();
        const std::string value = word("a value after '" + first + "='");
        if (!spec.options.emplace(first, value).second) {
          fail_at(at_, fmt::format("'{}' given twice", first));
        }
      } else {
        if (!spec.options.empty()) fail("a key=value (positional arguments come first)");
        spec.arguments.push_back(first);
      }
      skip_space();
      if (at_ >= text_.size() || text_[at_] != ',') return;
      ++at_;
      skip_space();
    }
  }

  std::string word(const std::string& what) {
    const size_t start = at_;
    while (at_ < text_.size() && word_char(text_[at_])) ++at_;
    if (at_ == start) fail(what);
    return std::string(text_.substr(start, at_ - start));
  }

  void expect(char c) {
    skip_space();
    if (at_ >= text_.size() || text_[at_] != c) fail(fmt::format("'{}'", c));
    ++at_;
  }

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_])) != 0) ++at_;
  }

  [[noreturn]] void fail(const std::string& expected) { fail_at(at_, "expected " + expected); }
  [[noreturn]] void fail_at(size_t position, const std::string& problem) {
    const std::string found =
        position < text_.size() ? fmt::format("'{}'", text_[position]) : "the end";
    throw_input_error("{} = '{}': at character {} ({}): {}", key_, text_, position + 1, found,
                      problem);
  }

  static constexpr int kMaxDepth = 32;  // the parser recurses once per level
  std::string_view text_, key_;
  size_t at_ = 0;
  int depth_ = 0;
};

std::string layer_text(const LayerSpec& spec) {
  if (!spec.body.empty() || spec.type == "residual") {
    return fmt::format("{}({})", spec.type, to_string(spec.body));
  }
  std::vector<std::string> parts = spec.arguments;
  for (const auto& [key, value] : spec.options) parts.push_back(key + "=" + value);
  if (parts.empty()) return spec.type;
  return fmt::format("{}({})", spec.type, fmt::join(parts, ", "));
}

}  // namespace

std::vector<LayerSpec> parse_layers(std::string_view text, std::string_view key) {
  Parser parser(text, key);
  auto layers = parser.layers(/*nested=*/false);
  if (layers.empty()) throw_input_error("{} is empty: give at least one layer", key);
  return layers;
}

std::string to_string(const std::vector<LayerSpec>& layers) {
  std::vector<std::string> parts;
  for (const auto& layer : layers) parts.push_back(layer_text(layer));
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace dpforge::nn
