// SPDX-License-Identifier: Apache-2.0
// One row per finished run, read back from its report.json: what `dpforge compare`, `dpforge sweep`
// and the plots show side by side, so that DP and other defenses are judged by the same attacks.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dpforge::report {

struct RunRow {
  std::string dir;
  std::string name;
  /// "DP", "weight decay", "dropout", "label smoothing", "early stopping" (joined by " + "), or
  /// "none".
  std::string defense;
  bool is_private = false;
  std::optional<double> epsilon;  // accountant's ε (private runs)
  std::optional<double> delta, noise_multiplier, sample_rate;
  int64_t steps = 0;
  /// binary | multiclass | regression: which metrics the table shows (train/task_metrics.h).
  std::string task;
  double test_accuracy = 0;             // classification (0 for regression)
  std::optional<double> test_baseline;  // classification: the majority class's share
  std::optional<double> test_auroc, test_auprc, test_log_loss;  // binary
  std::optional<double> test_macro_f1;                          // multi-class
  std::optional<double> test_rmse, test_mae, test_r2;           // regression
  std::optional<double> audit_lower_bound;                      // best white-box one-run bound
  std::string audit_status;                                     // pass | violation | "-" (no audit)
  /// The strongest black-box attack on the released model (highest AUC of LOSS, modified entropy
  /// and, when shadow models were trained, LiRA and RMIA; members = training examples,
  /// non-members = test examples).
  std::string attack;
  std::optional<double> attack_auc, tpr_at_0_1pct_fpr, tpr_at_1pct_fpr;
  /// Whether the attack's non-member sample can resolve each TPR
  /// (audit::kResolvableFalsePositives).
  bool tpr_at_0_1pct_resolved = true, tpr_at_1pct_resolved = true;
  int64_t non_members = 0;  // of the attack shown
  std::string stopped;      // why training stopped early ("" = it did not)
  /// The brief form of each warning the run printed before training ("q 0.68 > 0.1").
  std::vector<std::string> warnings;
};

/// The attacks a report's `mia` object may hold, in the order they are shown.
const std::vector<std::string>& attack_names();

/// DIR/report.json parsed; InputError naming the folder when it is missing, not JSON, or not a
/// dpforge report (no recipe, privacy or epochs).
nlohmann::json read_report(const std::filesystem::path& run_dir);

/// What `dpforge compare` was given, resolved to finished runs.
struct RunPaths {
  std::vector<std::filesystem::path> runs;  // each once, in the order given
  std::vector<std::string> skipped;         // "PATH: why", for the user
};

/// The run folders `paths` name: a run folder (report.json) itself; a sweep folder the finished
/// points of its summary.json in the sweep's order (every run sub-folder, sorted, while it has
/// none yet); what a shell glob over a sweep folder yields besides its runs (summary.json,
/// summary.txt, a point that is unfinished or failed) is skipped and said so. InputError naming
/// any other path, or when no run is left.
RunPaths expand_run_paths(const std::vector<std::string>& paths);

/// The row of read_report(run_dir).
RunRow read_run(const std::filesystem::path& run_dir);

/// The task `row` is read by: RunRow::task, or for a report written before the task was recorded,
/// regression when it has an RMSE, else multiclass (read by accuracy).
std::string task_of(const RunRow& row);

/// The defense a recipe's resolved values describe (see RunRow::defense).
std::string defense_of(const nlohmann::json& recipe_values);

/// An aligned text table, one row per run.
std::string format_table(const std::vector<RunRow>& rows);
nlohmann::json rows_to_json(const std::vector<RunRow>& rows);
std::string rows_to_csv(const std::vector<RunRow>& rows);

}  // namespace dpforge::report
