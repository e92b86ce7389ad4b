// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int keys_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge keys [options]");
  options.add_options()("help,h", "show this help")("markdown", "print a Markdown table");
  const auto values = parse_args("keys", args, options);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  const bool markdown = values.count("markdown") != 0U;
  if (markdown) fmt::print("| key | type | allowed | default | meaning |\n|---|---|---|---|---|\n");
  for (const auto& key : config::recipe_keys()) {
    if (markdown) {
      fmt::print("| `{}` | {} | {} | `{}` | {} |\n", key.key, key.type, key.allowed,
                 key.default_value, key.doc);
    } else {
      fmt::print("{:<28} {:<8} default '{}'  ({})\n    {}\n", key.key, key.type, key.default_value,
                 key.allowed, key.doc);
    }
  }
  return kExitOk;
}

}  // namespace dpforge::cli
