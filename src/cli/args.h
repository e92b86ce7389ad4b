// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "config/program_options_errors.h"
#include "dpforge/core/error.h"

namespace dpforge::cli {

// What follows a parse error: the line of the option it names (if it is one of this command's),
// the command's usage line, and where the rest is; not the whole help.
inline std::string usage_hint(const std::string& command,
                              const boost::program_options::options_description& options,
                              const boost::program_options::error& error) {
  namespace po = boost::program_options;
  std::string hint;
  if (const auto* named = dynamic_cast<const po::error_with_option_name*>(&error)) {
    std::string name = named->get_option_name();
    name.erase(0, name.find_first_not_of('-'));
    if (const auto* option = options.find_nothrow(name, false)) {
      hint += "  " + option->format_name() + " " + option->format_parameter() + ": " +
              option->description() + "\n";
    }
  }
  for (const auto& entry : commands()) {
    if (entry.name == command) hint += "usage: dpforge " + entry.usage + "\n";
  }
  return hint + "(dpforge " + command + " --help lists every option)";
}

// Parses a subcommand's arguments; Boost's errors become InputError (exit 2) naming the command.
inline boost::program_options::variables_map parse_args(
    const std::string& command, const std::vector<std::string>& args,
    const boost::program_options::options_description& options,
    const boost::program_options::positional_options_description& positional = {}) {
  namespace po = boost::program_options;
  po::variables_map values;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
    po::notify(values);
  } catch (const po::error& error) {
    throw_input_error("dpforge {}: {}\n{}", command, config::describe_program_options_error(error),
                      usage_hint(command, options, error));
  }
  return values;
}

}  // namespace dpforge::cli
