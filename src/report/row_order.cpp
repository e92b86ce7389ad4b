// SPDX-License-Identifier: Apache-2.0
#include "dpforge/report/row_order.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <set>

#include "dpforge/core/error.h"

namespace dpforge::report {
namespace {

struct Rank {
  std::optional<double> value;  // absent: ranked after every row that has one
  bool higher_first = true;
};

Rank metric_rank(const RunRow& row) {
  const std::string task = task_of(row);
  if (task == "binary") return {row.test_auroc, true};
  if (task == "regression") return {row.test_rmse, false};
  return {row.test_accuracy, true};
}

Rank rank_of(const RunRow& row, RowOrder order) {
  switch (order) {
    case RowOrder::kMetric:
      return metric_rank(row);
    case RowOrder::kEpsilon:
      return {row.is_private ? row.epsilon : std::nullopt, false};
    case RowOrder::kAttack:
      return {row.attack_auc, false};
    case RowOrder::kGiven:
      break;
  }
  return {};
}

void refuse_mixed_tasks(const std::vector<RunRow>& rows) {
  std::set<std::string> tasks;
  for (const auto& row : rows) tasks.insert(task_of(row));
  if (tasks.size() > 1) {
    throw_input_error(
        "--sort metric: these runs are of different tasks ({}), and no one metric ranks them; "
        "compare each task's runs apart, or sort by epsilon or attack",
        fmt::join(tasks, ", "));
  }
}

}  // namespace

const std::vector<std::string>& row_order_names() {
  static const std::vector<std::string> names{"given", "metric", "epsilon", "attack"};
  return names;
}

RowOrder parse_row_order(const std::string& name, const std::string& option) {
  const auto& names = row_order_names();
  const auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) {
    throw_input_error("{} = '{}': expected one of {}", option, name, fmt::join(names, ", "));
  }
  return static_cast<RowOrder>(found - names.begin());
}

std::string metric_order_description(const RunRow& row) {
  const std::string task = task_of(row);
  if (task == "binary") return "AUROC, higher first";
  if (task == "regression") return "RMSE, lower first";
  return "accuracy, higher first";
}

void sort_rows(std::vector<RunRow>& rows, RowOrder order) {
  if (order == RowOrder::kGiven) return;
  if (order == RowOrder::kMetric) refuse_mixed_tasks(rows);
  std::stable_sort(rows.begin(), rows.end(), [order](const RunRow& a, const RunRow& b) {
    const Rank x = rank_of(a, order), y = rank_of(b, order);
    if (!x.value || !y.value) return x.value.has_value() && !y.value.has_value();
    return x.higher_first ? *x.value > *y.value : *x.value < *y.value;
  });
}

}  // namespace dpforge::report
