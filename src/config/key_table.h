// SPDX-License-Identifier: Apache-2.0
// The recipe's keys, each declared once with its type, allowed values, documentation, setter and
// getter (recipe_keys.cpp). Shared by the two files of the config module; not a public header.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "dpforge/config/recipe.h"

namespace dpforge::config::detail {

// Thrown by value parsers; the caller prefixes where the value came from and which key it was.
struct BadValue {
  std::string allowed;
};

struct KeySpec {
  std::string key;
  std::string type;
  std::string allowed;
  std::string doc;
  std::function<void(Recipe&, const std::string&)> set;
  std::function<std::string(const Recipe&)> get;
};

/// Every key, in documentation order.
const std::vector<KeySpec>& key_table();

/// The data.* keys (recipe_data_keys.cpp), in documentation order.
std::vector<KeySpec> data_keys();

}  // namespace dpforge::config::detail
