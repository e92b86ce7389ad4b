// SPDX-License-Identifier: Apache-2.0
// `dpforge sweep`: every combination of a grid of recipe values (and named variants, each a set
// of overrides), one run folder each, resumable: finished runs of the same recipe are skipped,
// interrupted ones continue from their checkpoints, and a changed recipe is never reused.
#pragma once
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dpforge::run {

/// One run of a sweep: its folder name and the overrides that make it.
struct SweepPoint {
  std::string name;
  std::vector<std::string> overrides;
};

/// The cartesian product of `variants` ("name: key=value key=value …", or "name:" for the recipe
/// as is) and `grids` ("key=v1,v2,…"). Points are named after the variant and the grid values
/// ("dp_eps1", "target_epsilon=2,lr=0.1"). InputError on malformed entries or a key given twice.
std::vector<SweepPoint> sweep_points(const std::vector<std::string>& variants,
                                     const std::vector<std::string>& grids);

/// Splits a recipe's sweep.variants ("a | b | …") or sweep.grid ("g1; g2; …") value.
std::vector<std::string> split_sweep_list(const std::string& text, char separator);

/// How a sweep runs its points.
struct SweepOptions {
  /// Points whose folder holds a run of another recipe are set aside and trained again.
  bool rerun = false;
  /// Runs at a time. Above 1 each run is a `dpforge train` child process (`executable`) whose
  /// automatic thread count is its share of the CPUs, with its output in DIR/.logs/<point>.log.
  int64_t jobs = 1;
  std::filesystem::path executable;
};

struct SweepOutcome {
  nlohmann::json summary;  // also written to out_dir/summary.json
  int violations = 0;
  int failures = 0;
};

/// Runs every point of the sweep of `recipe_path` into out_dir/<point>; `overrides` (--set) apply
/// to every run after the point's own, so they win. Every point's recipe is validated before the
/// first run starts. A point whose folder already holds a run is reused (finished: skipped;
/// unfinished: resumed) only when that run was started with the same resolved recipe; otherwise
/// the sweep is refused before anything runs (InputError naming each point's differing keys), or,
/// with `options.rerun`, that folder is moved to out_dir/.replaced/ (a private run's ledger and
/// report are kept) and the point trained again. A run that fails (bad input, a crash of its child)
/// is counted and named in the summary; the others go on.
SweepOutcome run_sweep(const std::string& recipe_path, const std::vector<std::string>& overrides,
                       const std::vector<SweepPoint>& points, const std::filesystem::path& out_dir,
                       std::FILE* progress, const SweepOptions& options = {});

}  // namespace dpforge::run
