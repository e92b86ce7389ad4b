// SPDX-License-Identifier: Apache-2.0
#include "dpforge/report/compare.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>

#include "dpforge/audit/summary.h"
#include "dpforge/core/error.h"
#include "dpforge/privacy/printing.h"
#include "dpforge/report/run_report.h"
#include "dpforge/train/metrics.h"

namespace dpforge::report {
namespace {

std::optional<double> number_at(const nlohmann::json& json,
                                const nlohmann::json::json_pointer& pointer) {
  if (!json.contains(pointer) || !json.at(pointer).is_number()) return std::nullopt;
  return json.at(pointer).get<double>();
}

std::string value_of(const nlohmann::json& values, const std::string& key) {
  const auto found = values.find(key);
  return found != values.end() ? recipe_value_text(*found) : "";
}

bool nonzero(const std::string& text) { return !text.empty() && std::stod(text) != 0; }

}  // namespace

const std::vector<std::string>& attack_names() {
  static const std::vector<std::string> names = {"loss",         "modified_entropy",
                                                 "lira_online",  "lira_online_fixed_variance",
                                                 "lira_offline", "lira_offline_fixed_variance",
                                                 "rmia_offline"};
  return names;
}

namespace {

// Whether the attack's non-members can resolve its TPRs: as the report says, or (reports of older
// versions) from the count of non-members the attack was scored on.
void read_resolution(const nlohmann::json& mia, const std::string& attack, RunRow& row) {
  const bool shadow = attack.rfind("lira", 0) == 0 || attack.rfind("rmia", 0) == 0;
  const auto& setup = shadow ? mia.value("shadow_setup", nlohmann::json::object()) : mia;
  row.non_members = setup.value("non_members", int64_t{0});
  const auto& resolved = mia[attack].value("tpr_at_fpr_resolved", nlohmann::json::object());
  auto resolvable = [&](const char* key, double fpr) {
    return resolved.contains(key) ? resolved[key].get<bool>()
                                  : static_cast<double>(row.non_members) * fpr >=
                                        audit::kResolvableFalsePositives - 1e-9;
  };
  row.tpr_at_0_1pct_resolved = resolvable("0.001", 0.001);
  row.tpr_at_1pct_resolved = resolvable("0.01", 0.01);
}

}  // namespace

std::string defense_of(const nlohmann::json& values) {
  std::vector<std::string> parts;
  if (value_of(values, "privacy.enabled") == "true") parts.push_back("DP");
  if (nonzero(value_of(values, "train.weight_decay"))) parts.push_back("weight decay");
  if (nonzero(value_of(values, "model.dropout"))) parts.push_back("dropout");
  if (nonzero(value_of(values, "train.label_smoothing"))) parts.push_back("label smoothing");
  if (nonzero(value_of(values, "train.early_stopping_patience"))) parts.push_back("early stopping");
  if (parts.empty()) return "none";
  std::string joined = parts.front();
  for (size_t i = 1; i < parts.size(); ++i) joined += " + " + parts[i];
  return joined;
}

nlohmann::json read_report(const std::filesystem::path& run_dir) {
  const auto path = run_dir / "report.json";
  std::ifstream in(path);
  if (!in) {
    throw_input_error("{}: no report.json (not a finished dpforge run{})", run_dir.string(),
                      std::filesystem::exists(run_dir / "checkpoints")
                          ? fmt::format("; it is unfinished: continue it with `dpforge train "
                                        "--resume {}`",
                                        run_dir.string())
                          : "");
  }
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: not valid JSON ({})", path.string(), error.what());
  }
  if (!report.is_object() || !report.contains("recipe") || !report.contains("privacy") ||
      !report.contains("epochs")) {
    throw_input_error("{}: not a dpforge report (no recipe/privacy/epochs objects)", path.string());
  }
  return report;
}

namespace {

bool is_run(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "report.json");
}
bool is_sweep_folder(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "summary.json");
}
bool in_sweep_folder(const std::filesystem::path& path) {
  return is_sweep_folder(path.lexically_normal().parent_path());
}
// What an unfinished or failed run leaves (run/run_folder.h): its stored recipe, checkpoints, the
// privacy ledger.
bool is_unfinished_run(const std::filesystem::path& dir) {
  return std::filesystem::exists(dir / "recipe.ini") ||
         std::filesystem::exists(dir / "checkpoints") ||
         std::filesystem::exists(dir / "privacy_ledger.json");
}

// A sweep folder's finished runs in the order of its summary.json's points; the other entries are
// skipped, said so. Without a summary (a sweep still running its first pass) every run
// sub-folder, sorted.
void add_sweep(const std::filesystem::path& dir, RunPaths& found) {
  std::vector<std::filesystem::path> points;
  if (is_sweep_folder(dir)) {
    try {
      std::ifstream in(dir / "summary.json");
      for (const auto& point : nlohmann::json::parse(in).value("points", nlohmann::json::array()))
        points.push_back(dir / point.value("run", ""));
    } catch (const nlohmann::json::exception& error) {
      throw_input_error("{}: not valid JSON ({})", (dir / "summary.json").string(), error.what());
    }
  }
  std::vector<std::filesystem::path> others;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.is_directory() && is_run(entry.path()) &&
        std::find(points.begin(), points.end(), entry.path()) == points.end())
      others.push_back(entry.path());
  }
  std::sort(others.begin(), others.end());
  if (points.empty()) {
    found.runs.insert(found.runs.end(), others.begin(), others.end());
    return;
  }
  for (const auto& point : points) {
    if (is_run(point)) {
      found.runs.push_back(point);
    } else {
      found.skipped.push_back(point.string() + ": a point of this sweep with no finished run");
    }
  }
  for (const auto& other : others)
    found.skipped.push_back(other.string() + ": not a point of " + (dir / "summary.json").string() +
                            " (name it to include it)");
}

}  // namespace

RunPaths expand_run_paths(const std::vector<std::string>& paths) {
  RunPaths found;
  for (const auto& text : paths) {
    const std::filesystem::path path(text);
    if (std::filesystem::is_directory(path) && is_run(path)) {
      found.runs.push_back(path);
    } else if (std::filesystem::is_directory(path) && is_unfinished_run(path)) {
      found.skipped.push_back(text +
                              ": unfinished or failed (no report.json); an unfinished run "
                              "continues with `dpforge train --resume " +
                              text + "`");
    } else if (std::filesystem::is_directory(path)) {
      const size_t before = found.runs.size();
      add_sweep(path, found);
      if (found.runs.size() == before && !is_sweep_folder(path)) read_report(path);  // says why
    } else if (!in_sweep_folder(path) ||
               (path.filename() != "summary.json" && path.filename() != "summary.txt")) {
      throw_input_error(
          "{}: {}; give run folders (with report.json) or sweep folders (with summary.json)", text,
          std::filesystem::exists(path) ? "not a folder" : "no such file or folder");
    }
  }
  // A run named twice (by itself and through its sweep) is one row.
  std::vector<std::filesystem::path> unique;
  for (const auto& run : found.runs) {
    const auto same = [&run](const std::filesystem::path& other) {
      return std::filesystem::equivalent(run, other);
    };
    if (std::find_if(unique.begin(), unique.end(), same) == unique.end()) unique.push_back(run);
  }
  found.runs = std::move(unique);
  if (found.runs.empty()) throw_input_error("no finished runs in {}", fmt::join(paths, " "));
  return found;
}

std::string task_of(const RunRow& row) {
  if (!row.task.empty()) return row.task;
  return row.test_rmse ? "regression" : "multiclass";
}

RunRow read_run(const std::filesystem::path& run_dir) {
  const auto report = read_report(run_dir);
  using Pointer = nlohmann::json::json_pointer;
  RunRow row;
  row.dir = run_dir.string();
  row.name = report["recipe"].value("name", run_dir.filename().string());
  const auto& values = report["recipe"]["values"];
  row.defense = defense_of(values);
  row.is_private = report["privacy"].value("enabled", false);
  if (row.is_private) {
    row.epsilon = number_at(report, Pointer("/privacy/epsilon"));
    row.delta = number_at(report, Pointer("/privacy/delta"));
    row.noise_multiplier = number_at(report, Pointer("/privacy/noise_multiplier"));
    row.sample_rate = number_at(report, Pointer("/privacy/sample_rate"));
  }
  row.steps = report.value("steps", int64_t{0});
  row.task = report["data"].value("task", std::string());
  row.test_accuracy = number_at(report, Pointer("/test_accuracy")).value_or(0.0);
  row.test_baseline = number_at(report, Pointer("/test_baseline_accuracy"));
  row.test_auroc = number_at(report, Pointer("/test_auroc"));
  row.test_auprc = number_at(report, Pointer("/test_auprc"));
  row.test_log_loss = number_at(report, Pointer("/test_log_loss"));
  row.test_macro_f1 = number_at(report, Pointer("/test_macro_f1"));
  row.test_rmse = number_at(report, Pointer("/test_rmse"));
  row.test_mae = number_at(report, Pointer("/test_mae"));
  row.test_r2 = number_at(report, Pointer("/test_r2"));
  row.audit_lower_bound = number_at(report, Pointer("/audit/epsilon_lower_bound_best"));
  row.audit_status = report["audit"].value("status", std::string("-"));
  // A failed sensitivity check (audit/sensitivity_check.h) flags the run whatever the audit said.
  const auto check = Pointer("/diagnostics/sensitivity_check/status");
  if (report.contains(check) && report[check] == "violation") row.audit_status = "violation";
  if (report.contains("mia") && report["mia"].is_object()) {
    for (const auto& attack : attack_names()) {
      const auto auc = number_at(report["mia"], Pointer("/" + attack + "/auroc"));
      if (auc && (!row.attack_auc || *auc > *row.attack_auc)) {
        row.attack = attack;
        row.attack_auc = auc;
        row.tpr_at_0_1pct_fpr =
            number_at(report["mia"], Pointer("/" + attack + "/tpr_at_fpr/0.001"));
        row.tpr_at_1pct_fpr = number_at(report["mia"], Pointer("/" + attack + "/tpr_at_fpr/0.01"));
        read_resolution(report["mia"], attack, row);
      }
    }
  }
  for (const auto& warning : report.value("warnings", nlohmann::json::array()))
    row.warnings.push_back(warning.value("brief", ""));
  if (row.attack.empty()) row.attack = "-";
  if (report.contains("stopped") && report["stopped"].is_string())
    row.stopped = report["stopped"].get<std::string>();
  return row;
}

}  // namespace dpforge::report
