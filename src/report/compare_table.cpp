// SPDX-License-Identifier: Apache-2.0
// The rows of `dpforge compare` and `dpforge sweep` as a table, JSON and CSV: the run and its
// mechanism, the test metrics that fit its task, the audit and the strongest attack.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <string_view>

#include "dpforge/audit/summary.h"
#include "dpforge/privacy/printing.h"
#include "dpforge/report/compare.h"
#include "dpforge/train/metrics.h"

namespace dpforge::report {
namespace {
std::string show(const std::optional<double>& value, const char* format) {
  return value ? fmt::format(fmt::runtime(format), *value) : "-";
}

struct Column {
  const char* title;
  std::string (*cell)(const RunRow&);
  bool left = false;  // names and words; numbers are right-aligned
};

std::string percent(const std::optional<double>& value) {
  return value ? fmt::format("{:.2f}%", 100 * *value) : "-";
}

// A regression row has no accuracy: "-", not 0.00%.
std::string test_accuracy_cell(const RunRow& r) {
  return task_of(r) == "regression" ? "-" : percent(r.test_accuracy);
}

// The test metrics that fit each task, in the order shown: a binary task is read by its ranking
// (AUROC, AUPRC) and calibration (log-loss) before its accuracy, which only means something
// beside the majority-class baseline (87.6% on a churn table, whatever the model).
const std::vector<Column>& binary_columns() {
  static const std::vector<Column> all = {
      {"AUROC", [](const RunRow& r) { return show(r.test_auroc, "{:.4f}"); }},
      {"AUPRC", [](const RunRow& r) { return show(r.test_auprc, "{:.4f}"); }},
      {"log-loss", [](const RunRow& r) { return show(r.test_log_loss, "{:.4f}"); }},
      {"test acc", test_accuracy_cell},
      {"baseline", [](const RunRow& r) { return percent(r.test_baseline); }},
  };
  return all;
}
const std::vector<Column>& multiclass_columns() {
  static const std::vector<Column> all = {
      {"test acc", test_accuracy_cell},
      {"macro-F1", [](const RunRow& r) { return show(r.test_macro_f1, "{:.4f}"); }},
  };
  return all;
}
const std::vector<Column>& regression_columns() {
  static const std::vector<Column> all = {
      {"RMSE", [](const RunRow& r) { return show(r.test_rmse, "{:.4g}"); }},
      {"MAE", [](const RunRow& r) { return show(r.test_mae, "{:.4g}"); }},
      {"R2", [](const RunRow& r) { return show(r.test_r2, "{:.4f}"); }},
  };
  return all;
}

// The metrics a row is read by.
const std::vector<Column>& metric_columns(const RunRow& r) {
  const std::string task = task_of(r);
  if (task == "binary") return binary_columns();
  if (task == "regression") return regression_columns();
  return multiclass_columns();
}

// The table's columns for `rows`: the run and its mechanism, the metrics of every task among the
// rows (each title once), then the audit and the strongest attack.
std::vector<Column> columns(const std::vector<RunRow>& rows) {
  std::vector<Column> cols = {
      {"run", [](const RunRow& r) { return r.name; }, true},
      {"defense", [](const RunRow& r) { return r.defense; }, true},
      {"epsilon",
       [](const RunRow& r) {
         return !r.is_private ? std::string("inf")
                : r.epsilon   ? privacy::upper_significant(*r.epsilon, 3)
                              : std::string("-");
       }},
      {"delta", [](const RunRow& r) { return show(r.delta, "{:.0e}"); }},
      {"sigma", [](const RunRow& r) { return show(r.noise_multiplier, "{:.3g}"); }},
      {"q", [](const RunRow& r) { return show(r.sample_rate, "{:.3g}"); }},
      {"steps", [](const RunRow& r) { return std::to_string(r.steps); }},
  };
  for (const auto* task_columns :
       {&binary_columns(), &multiclass_columns(), &regression_columns()}) {
    const bool shown = std::any_of(rows.begin(), rows.end(), [&](const RunRow& r) {
      return &metric_columns(r) == task_columns;
    });
    if (!shown) continue;
    for (const auto& column : *task_columns) {
      const bool present = std::any_of(cols.begin(), cols.end(), [&](const Column& c) {
        return std::string_view(c.title) == column.title;
      });
      if (!present) cols.push_back(column);
    }
  }
  const std::vector<Column> audit = {
      {"audit eps LB", [](const RunRow& r) { return show(r.audit_lower_bound, "{:.3f}"); }},
      {"audit", [](const RunRow& r) { return r.audit_status; }, true},
      {"attack", [](const RunRow& r) { return r.attack; }, true},
      {"AUC", [](const RunRow& r) { return show(r.attack_auc, "{:.3f}"); }},
      {"TPR@0.1%",
       [](const RunRow& r) {
         return show(r.tpr_at_0_1pct_fpr, "{:.4f}") + (r.tpr_at_0_1pct_resolved ? "" : "*");
       }},
      {"TPR@1%",
       [](const RunRow& r) {
         return show(r.tpr_at_1pct_fpr, "{:.4f}") + (r.tpr_at_1pct_resolved ? "" : "*");
       }},
  };
  cols.insert(cols.end(), audit.begin(), audit.end());
  return cols;
}

}  // namespace

std::string format_table(const std::vector<RunRow>& rows) {
  const auto cols = columns(rows);
  std::vector<size_t> width(cols.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < cols.size(); ++c) width[c] = std::string(cols[c].title).size();
  for (const auto& row : rows) {
    auto& line = cells.emplace_back();
    for (size_t c = 0; c < cols.size(); ++c) {
      line.push_back(cols[c].cell(row));
      width[c] = std::max(width[c], line.back().size());
    }
  }
  std::string text;
  auto emit = [&](auto cell_of) {
    for (size_t c = 0; c < cols.size(); ++c) {
      text += cols[c].left ? fmt::format("{:<{}}", cell_of(c), width[c])
                           : fmt::format("{:>{}}", cell_of(c), width[c]);
      text += c + 1 < cols.size() ? "  " : "\n";
    }
  };
  emit([&](size_t c) { return std::string(cols[c].title); });
  for (const auto& line : cells) emit([&](size_t c) { return line[c]; });
  bool unresolved = false;
  for (const auto& row : rows) {
    if (!row.stopped.empty())
      text += fmt::format("note: {} stopped early: {}\n", row.name, row.stopped);
    if (!row.warnings.empty())
      text += fmt::format("note: {} was trained with warnings: {}\n", row.name,
                          fmt::join(row.warnings, "; "));
    unresolved |= !row.tpr_at_0_1pct_resolved || !row.tpr_at_1pct_resolved;
  }
  if (unresolved) {
    text += fmt::format(
        "* unresolved: fewer than {:g} of the attack's non-members lie above that FPR (0.1% "
        "needs >= 10,000 of them, 1% >= 1,000), so the TPR moves by whole steps between samples\n",
        audit::kResolvableFalsePositives);
  }
  return text;
}

nlohmann::json rows_to_json(const std::vector<RunRow>& rows) {
  auto array = nlohmann::json::array();
  for (const auto& r : rows) {
    array.push_back(
        {{"dir", r.dir},
         {"name", r.name},
         {"defense", r.defense},
         {"private", r.is_private},
         {"epsilon", train::json_or_null(r.epsilon)},
         {"delta", train::json_or_null(r.delta)},
         {"noise_multiplier", train::json_or_null(r.noise_multiplier)},
         {"sample_rate", train::json_or_null(r.sample_rate)},
         {"steps", r.steps},
         {"task", r.task},
         {"test_accuracy", r.test_rmse ? nlohmann::json(nullptr) : nlohmann::json(r.test_accuracy)},
         {"test_baseline_accuracy", train::json_or_null(r.test_baseline)},
         {"test_auroc", train::json_or_null(r.test_auroc)},
         {"test_auprc", train::json_or_null(r.test_auprc)},
         {"test_log_loss", train::json_or_null(r.test_log_loss)},
         {"test_macro_f1", train::json_or_null(r.test_macro_f1)},
         {"test_rmse", train::json_or_null(r.test_rmse)},
         {"test_mae", train::json_or_null(r.test_mae)},
         {"test_r2", train::json_or_null(r.test_r2)},
         {"audit_epsilon_lower_bound", train::json_or_null(r.audit_lower_bound)},
         {"audit_status", r.audit_status},
         {"attack", r.attack},
         {"attack_auc", train::json_or_null(r.attack_auc)},
         {"tpr_at_0.1pct_fpr", train::json_or_null(r.tpr_at_0_1pct_fpr)},
         {"tpr_at_1pct_fpr", train::json_or_null(r.tpr_at_1pct_fpr)},
         {"tpr_at_0.1pct_fpr_resolved", r.tpr_at_0_1pct_resolved},
         {"tpr_at_1pct_fpr_resolved", r.tpr_at_1pct_resolved},
         {"attack_non_members", r.non_members},
         {"warnings", r.warnings},
         {"stopped", r.stopped.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.stopped)}});
  }
  return array;
}

std::string rows_to_csv(const std::vector<RunRow>& rows) {
  auto quoted = [](const std::string& text) {
    std::string out = "\"";
    for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  auto number = [](const std::optional<double>& value) {
    return value ? fmt::format("{}", *value) : std::string();
  };
  std::string csv =
      "dir,name,defense,private,epsilon,delta,noise_multiplier,sample_rate,steps,test_accuracy,"
      "audit_epsilon_lower_bound,audit_status,attack,attack_auc,tpr_at_0.1pct_fpr,tpr_at_1pct_"
      "fpr,tpr_at_0.1pct_fpr_resolved,tpr_at_1pct_fpr_resolved,warnings,test_rmse,task,"
      "test_baseline_accuracy,test_auroc,test_auprc,test_log_loss,test_macro_f1,test_mae,test_r2\n";
  for (const auto& r : rows) {
    csv +=
        fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},", quoted(r.dir),
                    quoted(r.name), quoted(r.defense), r.is_private, number(r.epsilon),
                    number(r.delta), number(r.noise_multiplier), number(r.sample_rate), r.steps,
                    r.test_rmse ? std::string() : fmt::format("{}", r.test_accuracy),
                    number(r.audit_lower_bound), r.audit_status, r.attack, number(r.attack_auc),
                    number(r.tpr_at_0_1pct_fpr), number(r.tpr_at_1pct_fpr),
                    r.tpr_at_0_1pct_resolved, r.tpr_at_1pct_resolved,
                    quoted(fmt::format("{}", fmt::join(r.warnings, "; "))), number(r.test_rmse));
    csv += fmt::format("{},{},{},{},{},{},{},{}\n", r.task, number(r.test_baseline),
                       number(r.test_auroc), number(r.test_auprc), number(r.test_log_loss),
                       number(r.test_macro_f1), number(r.test_mae), number(r.test_r2));
  }
  return csv;
}

}  // namespace dpforge::report
