// SPDX-License-Identifier: Apache-2.0
// Subcommands of the `dpforge` executable; each returns a process exit code (core/error.h).
#pragma once
#include <string>
#include <vector>

namespace dpforge::cli {

int train_command(const std::vector<std::string>& args);
int keys_command(const std::vector<std::string>& args);
int budget_command(const std::vector<std::string>& args);
int calibrate_command(const std::vector<std::string>& args);
int audit_scores_command(const std::vector<std::string>& args);
int sweep_command(const std::vector<std::string>& args);
int compare_command(const std::vector<std::string>& args);
int report_command(const std::vector<std::string>& args);
int audit_command(const std::vector<std::string>& args);

}  // namespace dpforge::cli
