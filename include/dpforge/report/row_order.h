// SPDX-License-Identifier: Apache-2.0
// The order of `dpforge compare`'s rows: as given (a sweep's order), or ranked by the metric the
// runs' task is read by, by ε, or by the strongest attack.
//
// Example:
//   auto rows = ...;  // read_run() of each folder
//   report::sort_rows(rows, report::RowOrder::kMetric);  // binary: highest AUROC first
#pragma once
#include <string>
#include <vector>

#include "dpforge/report/compare.h"

namespace dpforge::report {

enum class RowOrder {
  kGiven,    // as the folders were named (a sweep: its summary's order)
  kMetric,   // the task's metric, best first: AUROC (binary), accuracy (multi-class), RMSE
             // (regression, lowest first)
  kEpsilon,  // smallest ε first; runs without DP last
  kAttack,   // weakest strongest-attack AUC first (the least leaky run first)
};

/// "given", "metric", "epsilon", "attack": the names `--sort` takes, in that order.
const std::vector<std::string>& row_order_names();

/// The RowOrder a `--sort` value names; InputError naming `option` and the allowed values.
RowOrder parse_row_order(const std::string& name, const std::string& option);

/// "AUROC, higher first" for a binary task's row: what kMetric ranks the runs of `row`'s task by.
std::string metric_order_description(const RunRow& row);

/// `rows` in `order`, stably: ties, and rows without the key (an older report, a run without DP or
/// without an attack), keep the order given, the latter after the rest. kMetric over runs of
/// different tasks is an InputError naming them: no one metric ranks a regression and a classifier.
void sort_rows(std::vector<RunRow>& rows, RowOrder order);

}  // namespace dpforge::report
