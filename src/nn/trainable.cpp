// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/trainable.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <set>

#include "dpforge/core/error.h"

namespace dpforge::nn {
namespace {

// fnmatch without its flags: * any run of characters (dots included), ? any one.
bool glob_matches(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p, ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1, n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The module that owns a parameter: its name up to the last dot ("" for the model's own).
std::string owner_of(const std::string& parameter) {
  const auto dot = parameter.rfind('.');
  return dot == std::string::npos ? "" : parameter.substr(0, dot);
}

bool selects(const std::string& pattern, const std::string& parameter, const std::string& last) {
  if (pattern == "all") return true;
  if (pattern == "last") return owner_of(parameter) == last;
  return parameter == pattern || parameter.starts_with(pattern + ".") ||
         glob_matches(pattern, parameter);
}

std::vector<std::string> split_patterns(const std::string& text) {
  std::vector<std::string> patterns;
  std::string current;
  for (const char c : text + " ") {
    if (c == ' ' || c == ',' || c == '\t') {
      if (!current.empty()) patterns.push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  return patterns;
}

}  // namespace

std::vector<std::string> freeze_all_but(torch::nn::Module& model, const std::string& patterns,
                                        const std::string& key) {
  auto parameters = model.named_parameters();
  std::vector<std::string> names;
  std::set<std::string> modules;
  for (const auto& item : parameters) {
    names.push_back(item.key());
    modules.insert(owner_of(item.key()));
  }
  if (names.empty()) return {};
  const std::string last = owner_of(names.back());
  auto wanted = split_patterns(patterns);
  if (wanted.empty()) wanted = {"all"};
  std::set<std::string> chosen;
  for (const auto& pattern : wanted) {
    size_t matched = 0;
    for (const auto& name : names) {
      if (!selects(pattern, name, last)) continue;
      chosen.insert(name);
      ++matched;
    }
    if (matched == 0) {
      throw_input_error(
          "{} = '{}': '{}' selects no parameter; the model's layers with parameters are {} "
          "(a name, a glob such as '3.*', last or all)",
          key, patterns, pattern, fmt::join(modules, ", "));
    }
  }
  // A layer trains whole or not at all: the DP layers clip and noise a layer's tensors together.
  for (const auto& name : names) {
    for (const auto& other : names) {
      if (owner_of(name) == owner_of(other) && chosen.count(name) > 0 && chosen.count(other) == 0)
        throw_input_error("{} = '{}' selects {} but not {}: a layer trains whole or not at all",
                          key, patterns, name, other);
    }
  }
  std::vector<std::string> trainable;
  for (auto& item : parameters) {
    const bool trains = chosen.count(item.key()) > 0;
    item.value().set_requires_grad(trains);
    if (trains) trainable.push_back(item.key());
  }
  return trainable;
}

std::vector<std::string> trained_parameter_names(const torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters())
    if (item.value().requires_grad()) names.push_back(item.key());
  return names;
}

int64_t count_all_parameters(const torch::nn::Module& model) {
  int64_t total = 0;
  for (const auto& parameter : model.parameters()) total += parameter.numel();
  return total;
}

}  // namespace dpforge::nn
