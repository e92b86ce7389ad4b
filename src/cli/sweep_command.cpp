// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/row_order.h"
#include "dpforge/run/sweep.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int sweep_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge sweep RECIPE [--grid key=v1,v2]... [--variant 'name: key=v ...']... --out DIR "
      "[--jobs N] [--rerun] [--sort given|metric|epsilon|attack]");
  options.add_options()("help,h", "show this help")("recipe", po::value<std::string>(),
                                                    "recipe INI file")(
      "grid", po::value<std::vector<std::string>>()->composing(),
      "sweep a key over values: --grid privacy.target_epsilon=1,2,4,8 (repeatable: cartesian "
      "product)")("variant", po::value<std::vector<std::string>>()->composing(),
                  "a named set of overrides: --variant 'dp_eps3: privacy.enabled=true "
                  "privacy.target_epsilon=3' (repeatable)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a recipe key for every run")(
      "out", po::value<std::string>(),
      "sweep folder: one run folder per point, summary.json, summary.txt")(
      "json", "print summary.json instead of the table")(
      "sort", po::value<std::string>()->default_value("given"),
      "the table's row order, as dpforge compare --sort: given (the sweep's), metric (the task's, "
      "best first), epsilon, attack")(
      "jobs", po::value<int64_t>()->default_value(1),
      "train N runs at a time, each in its own process with its share of the CPUs (an automatic "
      "run.threads), its output in DIR/.logs/<point>.log")(
      "rerun",
      "points whose folder holds a run of another recipe (an earlier sweep with other values) are "
      "moved to DIR/.replaced/ and trained again; without it such a sweep is refused");
  po::positional_options_description positional;
  positional.add("recipe", 1);
  const auto values = parse_args("sweep", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("recipe") == 0U) throw_input_error("dpforge sweep: missing RECIPE");
  if (values.count("out") == 0U)
    throw_input_error("dpforge sweep: missing --out DIR (the sweep folder)");
  auto list = [&](const char* name) {
    return values.count(name) != 0U ? values[name].as<std::vector<std::string>>()
                                    : std::vector<std::string>{};
  };
  const std::string recipe_path = values["recipe"].as<std::string>();
  const auto overrides = list("set");
  // The recipe's own sweep.variants / sweep.grid first, then the command line's.
  const auto base = config::load_recipe(recipe_path, overrides);
  auto variants = run::split_sweep_list(base.sweep.variants(), '|');
  auto grids = run::split_sweep_list(base.sweep.grid(), ';');
  for (const auto& variant : list("variant")) variants.push_back(variant);
  for (const auto& grid : list("grid")) grids.push_back(grid);
  const auto points = run::sweep_points(variants, grids);
  const auto order = report::parse_row_order(values["sort"].as<std::string>(), "--sort");

  run::SweepOptions sweep_options;
  sweep_options.rerun = values.count("rerun") != 0U;
  sweep_options.jobs = values["jobs"].as<int64_t>();
  if (sweep_options.jobs < 1 || sweep_options.jobs > 1024)
    throw_input_error("dpforge sweep: --jobs {} is invalid: expected an integer in [1, 1024]",
                      sweep_options.jobs);
  // The children run this very executable.
  sweep_options.executable = std::filesystem::read_symlink("/proc/self/exe");
  const auto outcome = run::run_sweep(recipe_path, overrides, points,
                                      values["out"].as<std::string>(), stderr, sweep_options);
  if (values.count("json") != 0U) {
    fmt::print("{}\n", outcome.summary.dump(2));
  } else {
    std::vector<report::RunRow> rows;
    for (const auto& run : outcome.summary["runs"])
      rows.push_back(report::read_run(run["dir"].get<std::string>()));
    report::sort_rows(rows, order);
    if (order == report::RowOrder::kMetric && !rows.empty())
      fmt::print(stderr, "sweep: rows by {}\n", report::metric_order_description(rows[0]));
    fmt::print("{}", report::format_table(rows));
    fmt::print("sweep: {} runs in {}; {} failed, {} audit violations\n", rows.size(),
               values["out"].as<std::string>(), outcome.failures, outcome.violations);
  }
  if (outcome.violations > 0) return kExitAuditViolation;
  return outcome.failures > 0 ? kExitBadInput : kExitOk;
}

}  // namespace dpforge::cli
