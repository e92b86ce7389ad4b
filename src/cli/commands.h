// SPDX-License-Identifier: Apache-2.0
// Subcommands of the `dpforge` executable. Adding one is one row in commands() (commands.cpp) and
// its own file; the usage text and the list of allowed commands are generated from the table.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace dpforge::cli {

struct Command {
  std::string name;
  /// Returns a process exit code (core/error.h).
  std::function<int(const std::vector<std::string>& args)> run;
  std::string usage;    // "train RECIPE [--set section.key=value]... [--out DIR | --resume DIR]"
  std::string summary;  // one line: what it does
};

/// Every command, in the order `dpforge --help` lists them.
const std::vector<Command>& commands();

int train_command(const std::vector<std::string>& args);
int keys_command(const std::vector<std::string>& args);
int budget_command(const std::vector<std::string>& args);
int calibrate_command(const std::vector<std::string>& args);
int audit_scores_command(const std::vector<std::string>& args);
int sweep_command(const std::vector<std::string>& args);
int compare_command(const std::vector<std::string>& args);
int report_command(const std::vector<std::string>& args);
int summary_command(const std::vector<std::string>& args);
int predict_command(const std::vector<std::string>& args);
int stats_template_command(const std::vector<std::string>& args);
int audit_command(const std::vector<std::string>& args);

}  // namespace dpforge::cli
