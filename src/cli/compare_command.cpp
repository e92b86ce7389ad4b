// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/report/compare.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int compare_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge compare RUN_OR_SWEEP_DIR... [--json | --csv]");
  options.add_options()("help,h", "show this help")(
      "runs", po::value<std::vector<std::string>>(),
      "run folders, sweep folders (all their runs), or a glob over either")(
      "json", "print JSON rows")("csv", "print CSV rows");
  po::positional_options_description positional;
  positional.add("runs", -1);
  const auto values = parse_args("compare", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("runs") == 0U)
    throw_input_error(
        "dpforge compare: give one or more run folders (with report.json) or sweep folders");
  if (values.count("json") != 0U && values.count("csv") != 0U)
    throw_input_error("dpforge compare: --json or --csv, not both");
  std::vector<report::RunRow> rows;
  const auto found = report::expand_run_paths(values["runs"].as<std::vector<std::string>>());
  for (const auto& skipped : found.skipped) fmt::print(stderr, "compare: skipped {}\n", skipped);
  for (const auto& dir : found.runs) rows.push_back(report::read_run(dir));
  if (values.count("json") != 0U) {
    fmt::print("{}\n", report::rows_to_json(rows).dump(2));
  } else if (values.count("csv") != 0U) {
    fmt::print("{}", report::rows_to_csv(rows));
  } else {
    fmt::print("{}", report::format_table(rows));
  }
  return kExitOk;
}

}  // namespace dpforge::cli
