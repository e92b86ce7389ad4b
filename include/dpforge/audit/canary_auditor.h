// SPDX-License-Identifier: Apache-2.0
// Score-agnostic auditing: from attack scores of canaries that were IN (trained on) and OUT, lower
// bounds on ε that hold with the stated confidence, plus attack metrics. Higher score = "IN".
// Threshold choice is corrected: candidate thresholds are the vertices of the ROC hull, and each
// bound is Bonferroni-corrected over all of them, so the confidence stated is the one delivered.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dpforge::audit {

class CanaryAuditor {
 public:
  CanaryAuditor(std::vector<double> in_scores, std::vector<double> out_scores);

  /// One-run bound of Steinke, Nasr & Jagielski (NeurIPS 2023) for (ε, δ)-DP, guessing IN above a
  /// threshold and abstaining below (k₋ = 0). The p-value of r guesses with v correct is
  ///   min(1, P[Bin(r, e^ε/(1+e^ε)) ≥ v] + 2mδ · max_{1≤i≤v} P[v−i ≤ Bin ≤ v−1]/i).
  double epsilon_one_run(double significance, double delta) const;

  /// One-run bound of Mahloujifar, Melis & Chaudhuri (ICML 2025) that tests the Gaussian f-DP
  /// curve matching (ε, δ): stronger than the above, valid for Gaussian-like mechanisms (DP-SGD).
  double epsilon_one_run_fdp(double significance, double delta) const;

  /// Multi-run bound (each canary = an independent training run): Clopper–Pearson on FPR and FNR,
  /// ε ≥ log((1 − δ − FNR_ub)/FPR_ub), one-sided, Bonferroni over thresholds.
  double epsilon_clopper_pearson(double significance, double delta) const;

  /// Gaussian-DP route (Nasr et al. 2023): μ_lb = Φ⁻¹(1 − FPR_ub) − Φ⁻¹(FNR_ub), converted to ε at
  /// δ (Dong, Roth & Su, Cor. 2.13). Not distribution-free: valid when the mechanism is μ-GDP-like.
  double epsilon_from_gdp(double significance, double delta) const;

  /// Area under the ROC curve (of the hull: randomizing between thresholds is allowed).
  double auroc() const;
  /// Largest TPR at the given FPR (interpolating between hull thresholds).
  double tpr_at_fpr(double fpr) const;
  /// max over thresholds of (TPR + TNR)/2.
  double balanced_accuracy() const;

  /// The empirical ROC at every distinct score, lowest FPR first: rows "threshold,fpr,tpr".
  std::string roc_csv() const;
  /// At most about `max_points` (fpr, tpr) points of that ROC, spread evenly in log(fpr) from
  /// 1e-5 to 1 (for log-log plots; the first and last points are always kept).
  std::vector<std::pair<double, double>> roc_points(size_t max_points = 120) const;

  /// The candidate thresholds (ascending; the last is +∞) with FN = #IN below and TN = #OUT below.
  const std::vector<double>& thresholds() const { return thresholds_; }
  const std::vector<int64_t>& fn_counts() const { return fn_; }
  const std::vector<int64_t>& tn_counts() const { return tn_; }

  int64_t num_in() const { return static_cast<int64_t>(in_.size()); }
  int64_t num_out() const { return static_cast<int64_t>(out_.size()); }
  /// Number of candidate thresholds (the Bonferroni divisor).
  int64_t num_thresholds() const { return static_cast<int64_t>(thresholds_.size()); }

 private:
  double epsilon_one_run_impl(double significance, double delta, bool fdp) const;

  std::vector<double> in_, out_;  // sorted ascending
  // Hull thresholds (ascending) with FN = #IN below and TN = #OUT below each.
  std::vector<double> thresholds_;
  std::vector<int64_t> fn_, tn_;
};

}  // namespace dpforge::audit
