// SPDX-License-Identifier: Apache-2.0
// Score-agnostic auditing: from attack scores of canaries that were IN (trained on) and OUT, lower
// bounds on ε that hold with the stated confidence, plus attack metrics. Higher score = "IN".
//
// The tests behind every bound form a family fixed before any label is seen: "IN" for the k highest
// scores (and, for the multi-run bounds, also for the k lowest), k ∈ guess_counts(), a grid that
// depends on the number of canaries alone. Each bound is Bonferroni-corrected over that family, so
// the confidence stated is the one delivered; choosing thresholds after looking at the labels (the
// ROC hull, say) would not be (docs/auditing.md).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dpforge::audit {

class CanaryAuditor {
 public:
  /// `member_prior`: the probability p with which each canary was made IN, independently of the
  /// others (½ for dpforge's canaries; another tool's score file has its own).
  CanaryAuditor(std::vector<double> in_scores, std::vector<double> out_scores,
                double member_prior = 0.5);

  /// One-run bound of Steinke, Nasr & Jagielski (NeurIPS 2023) for (ε, δ)-DP, guessing IN for the
  /// top scores and abstaining below (k₋ = 0). The p-value of r guesses with v correct is
  ///   min(1, P[Bin(r, e^ε'/(1+e^ε')) ≥ v] + 2mδ' · max_{1≤i≤v} P[v−i ≤ Bin ≤ v−1]/i),
  /// ε' = ε + log(p/(1−p)), δ' = 2·max(p, 1−p)·δ. At p = ½ this is the paper's test. Otherwise an
  /// IN guess is right with probability at most p·e^ε/(p·e^ε + 1 − p) given everything else
  /// (Bayes with a likelihood ratio ≤ e^ε), and P[IN, guessed] ≤ e^ε' P[OUT, guessed] + p·δ, the
  /// paper's per-canary inequality at (ε', δ') (docs/auditing.md). Valid for any (ε, δ)-DP
  /// mechanism whose canaries are each IN with probability p.
  double epsilon_one_run(double significance, double delta) const;

  /// One-run bound of Mahloujifar, Melis & Chaudhuri (2024) testing the trade-off curve of
  /// (ε, δ)-DP itself, f(α) = max(0, 1 − δ − e^ε α, e^{−ε}(1 − δ − α)): every (ε, δ)-DP mechanism
  /// satisfies it, so the bound is valid for any mechanism (a Gaussian curve matched to (ε, δ) is
  /// not a valid null for Poisson-subsampled DP-SGD, which is not GDP). Its analysis assumes
  /// canaries IN with probability ½: std::logic_error for any other member_prior.
  double epsilon_one_run_fdp(double significance, double delta) const;

  /// p of the constructor; fair_coin() when it is ½.
  double member_prior() const { return member_prior_; }
  bool fair_coin() const { return member_prior_ == 0.5; }

  /// Multi-run bounds: valid only when every row is an independent training run.
  /// Clopper–Pearson on FPR and FNR of each test, ε ≥ log((1 − δ − FNR_ub)/FPR_ub).
  double epsilon_clopper_pearson(double significance, double delta) const;
  /// Gaussian-DP route (Nasr et al. 2023): μ_lb = max(0, Φ⁻¹(1 − FPR_ub) − Φ⁻¹(FNR_ub)) over the
  /// tests, each with its own upper bounds (a test that ranks members low is a test of its own, in
  /// the family), converted to ε at δ (Dong, Roth & Su, Cor. 2.13). Not distribution-free: valid
  /// when the mechanism is μ-GDP-like.
  double epsilon_from_gdp(double significance, double delta) const;

  /// The fixed family: k = ⌈m/2⌉, ⌈m/4⌉, … down to 16 guesses (m = all canaries).
  const std::vector<int64_t>& guess_counts() const { return guess_counts_; }

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

  /// The ROC hull (descriptive metrics only, never a bound): thresholds ascending, the last +∞,
  /// with FN = #IN below and TN = #OUT below each.
  const std::vector<double>& thresholds() const { return thresholds_; }
  const std::vector<int64_t>& fn_counts() const { return fn_; }
  const std::vector<int64_t>& tn_counts() const { return tn_; }

  int64_t num_in() const { return static_cast<int64_t>(in_.size()); }
  int64_t num_out() const { return static_cast<int64_t>(out_.size()); }

  /// One test of the family: `guesses` canaries called IN, `correct` of them truly IN.
  struct Guess {
    int64_t guesses = 0, correct = 0;
  };
  /// "IN" for every score ≥ the k-th highest (ties at the boundary all join: a function of the
  /// scores alone); with `lowest`, for every score ≤ the k-th lowest.
  Guess guess_top(int64_t k, bool lowest = false) const;

 private:
  double epsilon_one_run_impl(double significance, double delta, bool fdp) const;
  // The best of `bound(FNR_ub, FPR_ub)` over the family's tests in both directions.
  template <typename Bound>
  double best_multi_run(double significance, Bound&& bound) const;
  void build_hull();
  double member_prior_ = 0.5;

  std::vector<double> in_, out_;  // sorted ascending
  std::vector<double> all_;       // every score, ascending
  std::vector<int64_t> guess_counts_;
  std::vector<double> thresholds_;
  std::vector<int64_t> fn_, tn_;
};

}  // namespace dpforge::audit
