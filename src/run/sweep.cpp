// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/sweep.h"

#include <fmt/format.h>

#include <set>

#include "dpforge/config/recipe.h"
#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/report/compare.h"
#include "dpforge/run/run.h"

namespace dpforge::run {
namespace {

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    parts.push_back(
        trim(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin)));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

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
  for (auto& item : split(text, separator)) {
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
    for (const auto& item : split(rest, ' ')) {
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
    const auto values = split(grid.substr(equals + 1), ',');
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
  return points;
}

SweepOutcome run_sweep(const std::string& recipe_path, const std::vector<std::string>& overrides,
                       const std::vector<SweepPoint>& points, const std::filesystem::path& out_dir,
                       std::FILE* progress) {
  // Bad values anywhere in the grid fail now, not after hours of the runs before them.
  std::vector<config::Recipe> recipes;
  for (const auto& point : points) {
    // Later overrides win: the point's variant and grid values, then --set for every run (so a
    // command line can shrink any sweep, e.g. to a data subset).
    auto all = point.overrides;
    all.insert(all.end(), overrides.begin(), overrides.end());
    all.push_back("run.name=" + point.name);
    try {
      recipes.push_back(config::load_recipe(recipe_path, all));
    } catch (const InputError& error) {
      throw_input_error("sweep point {}: {}", point.name, error.what());
    }
  }
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error)
    throw_input_error("--out {}: cannot create the sweep folder ({})", out_dir.string(),
                      error.message());

  SweepOutcome outcome;
  std::vector<report::RunRow> rows;
  auto failures = nlohmann::json::array();
  for (size_t i = 0; i < points.size(); ++i) {
    const auto run_dir = out_dir / points[i].name;
    const bool finished = std::filesystem::exists(run_dir / "report.json");
    const bool interrupted = !finished && std::filesystem::exists(run_dir / "checkpoints");
    if (progress != nullptr) {
      fmt::print(progress, "\nsweep [{}/{}] {}: {}\n", i + 1, points.size(), points[i].name,
                 finished      ? "finished earlier, skipped"
                 : interrupted ? "resuming"
                               : "training");
    }
    if (!finished) {
      try {
        run_training(recipes[i], run_dir, progress, interrupted);
      } catch (const InputError& failure) {
        // One point failing (e.g. an unreachable epsilon) must not cost the others.
        ++outcome.failures;
        failures.push_back({{"run", points[i].name}, {"error", failure.what()}});
        if (progress != nullptr)
          fmt::print(progress, "sweep: {} failed: {}\n", points[i].name, failure.what());
        if (!std::filesystem::exists(run_dir / "report.json")) continue;
      }
    }
    rows.push_back(report::read_run(run_dir));
    if (rows.back().audit_status == "violation") ++outcome.violations;
  }
  auto grid = nlohmann::json::array();
  for (const auto& point : points)
    grid.push_back({{"run", point.name}, {"overrides", point.overrides}});
  outcome.summary = {{"recipe", recipe_path}, {"overrides", overrides},
                     {"points", grid},        {"runs", report::rows_to_json(rows)},
                     {"failures", failures},  {"audit_violations", outcome.violations}};
  write_file_atomic(out_dir / "summary.json", outcome.summary.dump(2) + "\n");
  write_file_atomic(out_dir / "summary.txt", report::format_table(rows));
  return outcome;
}

}  // namespace dpforge::run
