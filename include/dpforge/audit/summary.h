// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <nlohmann/json.hpp>

#include "dpforge/audit/canary_auditor.h"

namespace dpforge::audit {

/// Every bound and metric of `auditor` at `confidence` (e.g. 0.95) and `delta`, as reported in
/// report.json and by `dpforge audit-scores`:
///   epsilon_lower_bound.{one_run_steinke, one_run_fdp} (and, with `multi_run` — only when every
///   row is an independent run — clopper_pearson and gdp), auroc, tpr_at_fpr.{0.001, 0.01},
///   balanced_accuracy, canaries_in/out, the test family and its correction.
nlohmann::json summarize(const CanaryAuditor& auditor, double confidence, double delta,
                         bool multi_run = false);

/// The larger of a one-run summary's two bounds (Steinke, f-DP).
double best_one_run_bound(const nlohmann::json& summary);

}  // namespace dpforge::audit
