// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <nlohmann/json.hpp>

#include "dpforge/audit/canary_auditor.h"

namespace dpforge::audit {

/// Every bound and metric of `auditor` at `confidence` (e.g. 0.95) and `delta`, as reported in
/// report.json and by `dpforge audit-scores`:
///   epsilon_lower_bound.{one_run_steinke, one_run_fdp} (and, with `multi_run` — only when every
///   row is an independent run — clopper_pearson and gdp), auroc, tpr_at_fpr.{0.001, 0.01} (and
///   tpr_at_fpr_resolved),
///   balanced_accuracy, canaries_in/out, the test family and its correction.
nlohmann::json summarize(const CanaryAuditor& auditor, double confidence, double delta,
                         bool multi_run = false);

/// A TPR at FPR f from n non-members rests on the f·n highest-scoring of them; below this many the
/// TPR there is set by a handful of scores and moves by whole steps between samples (at 0.1% FPR
/// it takes 10,000 non-members), so it is reported but marked unresolved.
inline constexpr double kResolvableFalsePositives = 10;

/// {"tpr_at_fpr": {"0.001": TPR, "0.01": TPR}, "tpr_at_fpr_resolved": {"0.001": bool, …}}.
nlohmann::json tpr_at_fpr_json(const CanaryAuditor& auditor);

/// The ROC hull (at most 120 points) as {"fpr": [...], "tpr": [...]}: labelled, not bare pairs.
nlohmann::json roc_json(const CanaryAuditor& auditor);

/// A black-box attack's metrics: auroc, tpr_at_fpr and tpr_at_fpr_resolved, balanced_accuracy,
/// roc (roc_json).
nlohmann::json attack_metrics(const CanaryAuditor& auditor);

/// The larger of a one-run summary's two bounds (Steinke, f-DP).
double best_one_run_bound(const nlohmann::json& summary);

}  // namespace dpforge::audit
