// SPDX-License-Identifier: Apache-2.0
// Messages for Boost.Program_options errors, built from their parts. Boost's own what() fills a
// template by repeated substitution and never terminates when the offending text itself contains
// a placeholder such as "%invalid_line%" (found by fuzz/recipe_fuzzer; Boost 1.74), so it is only
// called for errors that carry no user text.
#pragma once
#include <fmt/format.h>

#include <boost/program_options/errors.hpp>
#include <string>

namespace dpforge::config {

inline std::string describe_program_options_error(const boost::program_options::error& error) {
  namespace po = boost::program_options;
  if (const auto* line = dynamic_cast<const po::invalid_config_file_syntax*>(&error)) {
    return fmt::format("invalid line '{}': expected 'key = value' or '[section]'", line->tokens());
  }
  if (const auto* named = dynamic_cast<const po::error_with_option_name*>(&error)) {
    const std::string option = named->get_option_name();
    if (dynamic_cast<const po::unknown_option*>(&error))
      return fmt::format("unrecognised option '{}'", option);
    if (dynamic_cast<const po::ambiguous_option*>(&error))
      return fmt::format("ambiguous option '{}'", option);
    if (dynamic_cast<const po::multiple_occurrences*>(&error) ||
        dynamic_cast<const po::multiple_values*>(&error)) {
      return fmt::format("option '{}' is given more than once", option);
    }
    if (dynamic_cast<const po::invalid_option_value*>(&error))
      return fmt::format("invalid value for option '{}'", option);
    if (dynamic_cast<const po::required_option*>(&error))
      return fmt::format("option '{}' is required", option);
    if (const auto* syntax = dynamic_cast<const po::invalid_syntax*>(&error)) {
      switch (syntax->kind()) {
        case po::invalid_syntax::missing_parameter:
          return fmt::format("option '{}' needs a value", option);
        case po::invalid_syntax::extra_parameter:
          return fmt::format("option '{}' takes no value", option);
        default:
          return fmt::format("invalid syntax near option '{}'", option);
      }
    }
    return fmt::format("invalid use of option '{}'", option);
  }
  return error.what();  // errors without substituted user text (e.g. too many positional arguments)
}

}  // namespace dpforge::config
