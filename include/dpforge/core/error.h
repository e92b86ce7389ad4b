// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dpforge {

// Bad input from the user (recipe, command line, data files). The CLI maps it to exit code 2; the
// message must say where the input came from, what is wrong and what is allowed.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void throw_input_error(fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

// Process exit codes shared by the CLI and the tests that check them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitAuditViolation = 3;

}  // namespace dpforge
