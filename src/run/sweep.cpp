// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <set>

#include "dpforge/config/recipe.h"
#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/core/text.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/run_report.h"
#include "dpforge/run/run.h"
#include "dpforge/run/run_folder.h"
#include "src/run/sweep_jobs.h"

namespace dpforge::run {
namespace {

// A folder name from a value: path separators and spaces would make other folders.
std::string folder_safe(const std::string& text) {
  std::string safe;
  for (char c : text) safe += (c == '/' || c == '\\' || c == ' ' || c == ':') ? '_' : c;
  return safe;
}

}  // namespace

std::vector<std::string> split_sweep_list(const std::string& text, char separator) {
  std::vector<std::string> items;
  if (trim(text).empty()) return items;
  for (auto& item : split_trimmed(text, separator)) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::vector<SweepPoint> sweep_points(const std::vector<std::string>& variants,
                                     const std::vector<std::string>& grids) {
  std::vector<SweepPoint> points;
  std::set<std::string> names;
  for (const auto& variant : variants) {
    const auto colon = variant.find(':');
    const std::string name = trim(variant.substr(0, colon));
    if (colon == std::string::npos || name.empty()) {
      throw_input_error("sweep variant '{}': expected 'name: key=value key=value ...'", variant);
    }
    if (!names.insert(name).second) throw_input_error("sweep variant '{}' is given twice", name);
    SweepPoint point{folder_safe(name), {}};
    std::string rest = variant.substr(colon + 1);
    for (const auto& item : split_trimmed(rest, ' ')) {
      if (item.empty()) continue;
      if (item.find('=') == std::string::npos) {
        throw_input_error("sweep variant '{}': '{}' is not key=value", name, item);
      }
      point.overrides.push_back(item);
    }
    points.push_back(point);
  }
  if (points.empty()) points.push_back(SweepPoint{"", {}});

  std::set<std::string> grid_keys;
  for (const auto& grid : grids) {
    const auto equals = grid.find('=');
    const std::string key = trim(grid.substr(0, equals));
    if (equals == std::string::npos || key.empty()) {
      throw_input_error("--grid '{}': expected key=value1,value2,...", grid);
    }
    if (!grid_keys.insert(key).second) throw_input_error("--grid {} is given twice", key);
    const auto values = split_trimmed(grid.substr(equals + 1), ',');
    for (const auto& value : values) {
      if (value.empty()) throw_input_error("--grid '{}': empty value in the list", grid);
    }
    const std::string short_key = key.substr(key.find('.') + 1);
    std::vector<SweepPoint> product;
    for (const auto& point : points) {
      for (const auto& value : values) {
        SweepPoint next = point;
        next.name += (next.name.empty() ? "" : ",") + short_key + "=" + folder_safe(value);
        next.overrides.push_back(key + "=" + value);
        product.push_back(next);
      }
    }
    points = product;
  }
  if (points.size() == 1 && points.front().name.empty()) {
    throw_input_error(
        "dpforge sweep: nothing to sweep; give --grid key=v1,v2 or --variant 'name: key=value' "
        "(or sweep.grid / sweep.variants in the recipe)");
  }
  // Two points in one folder would show one's run as the other's ('a b' and 'a_b' both become
  // a_b once made folder-safe).
  std::set<std::string> folders;
  for (const auto& point : points) {
    if (!folders.insert(point.name).second) {
      throw_input_error(
          "dpforge sweep: two points share the folder '{}' (names and values are made folder-safe: "
          "'/', '\\', ' ' and ':' become '_'); rename a variant or change a value",
          point.name);
    }
  }
  return points;
}

namespace {

// A point's folder from an earlier sweep is reused (skipped when finished, resumed when not) only
// when it was started with the very recipe this sweep gives the point; otherwise the sweep is
// refused before anything runs, naming every stale point and its differing keys, unless `rerun`.
std::vector<bool> stale_points(const std::vector<SweepPoint>& points,
                               const std::vector<nlohmann::json>& values,
                               const std::filesystem::path& out_dir, bool rerun) {
  std::vector<bool> stale(points.size(), false);
  std::string refused;
  size_t refused_count = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto run_dir = out_dir / points[i].name;
    const auto state = folder_state(run_dir);
    if (state != FolderState::kFinished && state != FolderState::kUnfinished) continue;
    const auto stored = stored_recipe_values(run_dir);
    if (!stored) continue;  // an unfinished run of an older dpforge: its resume checks every key
    const auto differences = recipe_differences(*stored, values[i]);
    if (differences.empty()) continue;
    stale[i] = true;
    if (!rerun) {
      ++refused_count;
      refused += fmt::format(
          "{} ({} run):\n{}\n", run_dir.string(),
          state == FolderState::kFinished ? "finished" : "unfinished",
          describe_differences(differences, {"in the run there", "in this sweep", false}));
    }
  }
  if (refused_count > 0) {
    throw_input_error(
        "--out {}: {} point{} of this sweep already hold{} a run of another recipe, which a sweep "
        "never shows as its own:\n{}Give --rerun to move {} to {}/.replaced/ and train again, or "
        "choose another --out folder.",
        out_dir.string(), refused_count, refused_count == 1 ? "" : "s",
        refused_count == 1 ? "s" : "", refused, refused_count == 1 ? "it" : "them",
        out_dir.string());
  }
  return stale;
}

// Moves a stale point's folder to out_dir/.replaced/<point>-<n> rather than deleting it: a private
// run's ledger records privacy spent on the same data, and is kept with its report and model.
std::string set_aside(const std::filesystem::path& out_dir, const std::string& point) {
  const auto shelf = out_dir / ".replaced";
  std::filesystem::create_directories(shelf);
  auto target = shelf / point;
  for (int n = 2; std::filesystem::exists(target); ++n)
    target = shelf / fmt::format("{}-{}", point, n);
  std::filesystem::rename(out_dir / point, target);
  return target.string();
}

}  // namespace

SweepOutcome run_sweep(const std::string& recipe_path, const std::vector<std::string>& overrides,
                       const std::vector<SweepPoint>& points, const std::filesystem::path& out_dir,
                       std::FILE* progress, const SweepOptions& options) {
  // Bad values anywhere in the grid fail now, not after hours of the runs before them.
  std::vector<config::Recipe> recipes;
  std::vector<std::vector<std::string>> point_overrides;
  for (const auto& point : points) {
    // Later overrides win: the point's variant and grid values, then --set for every run (so a
    // command line can shrink any sweep, e.g. to a data subset).
    auto all = point.overrides;
    all.insert(all.end(), overrides.begin(), overrides.end());
    all.push_back("run.name=" + point.name);
    try {
      recipes.push_back(config::load_recipe(recipe_path, all));
      config::check_model_init_exists(recipes.back());
    } catch (const InputError& error) {
      throw_input_error("sweep point {}: {}", point.name, error.what());
    }
    point_overrides.push_back(all);
  }
  std::vector<nlohmann::json> values;
  for (const auto& recipe : recipes) values.push_back(report::recipe_values_json(recipe));
  const auto stale = stale_points(points, values, out_dir, options.rerun);
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error)
    throw_input_error("--out {}: cannot create the sweep folder ({})", out_dir.string(),
                      error.message());

  std::vector<std::optional<std::string>> failed(points.size());
  std::vector<detail::ChildRun> children;
  std::vector<size_t> child_points;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto run_dir = out_dir / points[i].name;
    std::string replaced;
    if (stale[i]) replaced = set_aside(out_dir, points[i].name);
    const auto state = folder_state(run_dir);
    const bool finished = state == FolderState::kFinished;
    const bool interrupted = state == FolderState::kUnfinished;
    if (progress != nullptr) {
      fmt::print(progress, "{}sweep [{}/{}] {}: {}\n", options.jobs > 1 ? "" : "\n", i + 1,
                 points.size(), points[i].name,
                 finished      ? "finished earlier with the same recipe, skipped"
                 : interrupted ? "resuming"
                 : stale[i] ? "recipe changed, training again (--rerun; the earlier run moved to " +
                                  replaced + ")"
                            : "training");
    }
    if (finished) continue;
    if (options.jobs > 1) {
      children.push_back({points[i].name, point_overrides[i], run_dir, interrupted});
      child_points.push_back(i);
      continue;
    }
    try {
      run_training(recipes[i], run_dir, progress, interrupted);
    } catch (const InputError& failure) {
      // One point failing (e.g. an unreachable epsilon) must not cost the others.
      failed[i] = failure.what();
      if (progress != nullptr)
        fmt::print(progress, "sweep: {} failed: {}\n", points[i].name, failure.what());
    }
  }
  if (!children.empty()) {
    const auto child_failures = detail::train_children(
        options.executable, recipe_path, children, std::min<int64_t>(options.jobs, children.size()),
        out_dir / ".logs", progress);
    for (size_t k = 0; k < children.size(); ++k) failed[child_points[k]] = child_failures[k];
  }

  SweepOutcome outcome;
  std::vector<report::RunRow> rows;
  auto failures = nlohmann::json::array();
  for (size_t i = 0; i < points.size(); ++i) {
    const auto run_dir = out_dir / points[i].name;
    if (failed[i]) {
      ++outcome.failures;
      failures.push_back({{"run", points[i].name}, {"error", *failed[i]}});
      if (!std::filesystem::exists(run_dir / "report.json")) continue;
    }
    rows.push_back(report::read_run(run_dir));
    if (rows.back().audit_status == "violation") ++outcome.violations;
  }
  auto grid = nlohmann::json::array();
  for (size_t i = 0; i < points.size(); ++i) {
    grid.push_back({{"run", points[i].name},
                    {"overrides", points[i].overrides},
                    {"recipe_hash", recipe_hash(values[i])}});
  }
  outcome.summary = {{"recipe", recipe_path}, {"overrides", overrides},
                     {"points", grid},        {"runs", report::rows_to_json(rows)},
                     {"failures", failures},  {"audit_violations", outcome.violations}};
  write_file_atomic(out_dir / "summary.json", outcome.summary.dump(2) + "\n");
  write_file_atomic(out_dir / "summary.txt", report::format_table(rows));
  return outcome;
}

}  // namespace dpforge::run
