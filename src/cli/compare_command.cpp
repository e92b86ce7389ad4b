// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/row_order.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int compare_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge compare RUN_OR_SWEEP_DIR... [--sort given|metric|epsilon|attack] [--json | --csv]");
  options.add_options()("help,h", "show this help")(
      "runs", po::value<std::vector<std::string>>(),
      "run folders, sweep folders (all their runs), or a glob over either")(
      "sort", po::value<std::string>()->default_value("given"),
      "row order: given (a sweep's own order), metric (the task's: AUROC for binary, accuracy for "
      "multi-class, best first; RMSE for regression, lowest first), epsilon (smallest first), "
      "attack (the strongest attack's AUC, lowest first)")("json", "print JSON rows")(
      "csv", "print CSV rows");
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
  const auto order = report::parse_row_order(values["sort"].as<std::string>(), "--sort");
  std::vector<report::RunRow> rows;
  const auto found = report::expand_run_paths(values["runs"].as<std::vector<std::string>>());
  for (const auto& skipped : found.skipped) fmt::print(stderr, "compare: skipped {}\n", skipped);
  for (const auto& dir : found.runs) rows.push_back(report::read_run(dir));
  report::sort_rows(rows, order);
  if (order == report::RowOrder::kMetric)
    fmt::print(stderr, "compare: rows by {}\n", report::metric_order_description(rows[0]));
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
