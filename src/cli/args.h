// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "config/program_options_errors.h"
#include "dpforge/core/error.h"

namespace dpforge::cli {

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
                      [&] {
                        std::ostringstream text;
                        text << options;
                        return text.str();
                      }());
  }
  return values;
}

}  // namespace dpforge::cli
