// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/canary_auditor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "dpforge/audit/statistics.h"
#include "dpforge/privacy/log_math.h"

namespace dpforge::audit {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double logistic(double x) { return 1 / (1 + std::exp(-x)); }

double logit(double p) { return std::log(p) - std::log1p(-p); }

// Steinke et al.'s p-value for v correct among r guesses with m canaries, each IN with
// probability `prior` (canary_auditor.h: their test at ε + logit(prior) and 2·max(p, 1−p)·δ).
double one_run_p_value(int64_t m, int64_t r, int64_t v, double epsilon, double delta,
                       double prior) {
  const double q = logistic(epsilon + logit(prior));
  delta *= 2 * std::max(prior, 1 - prior);
  const double beta = binomial_at_least(v, r, q);
  if (delta == 0 || v == 0) return beta;
  // max_i P[v−i ≤ W ≤ v−1]/i with the pmf by recurrence downward from v−1.
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double k0 = static_cast<double>(v - 1), rd = static_cast<double>(r);
  double log_pmf = std::lgamma(rd + 1) - std::lgamma(k0 + 1) - std::lgamma(rd - k0 + 1) +
                   k0 * log_q + (rd - k0) * log_1mq;
  double cumulative = 0, alpha = 0;
  for (int64_t i = 1; i <= v; ++i) {
    const int64_t k = v - i;  // pmf(k) is exp(log_pmf)
    cumulative += std::exp(log_pmf);
    alpha = std::max(alpha, cumulative / static_cast<double>(i));
    if (k > 0) {
      log_pmf += std::log(static_cast<double>(k)) - std::log(rd - static_cast<double>(k) + 1) +
                 log_1mq - log_q;
    }
  }
  return std::min(1.0, beta + alpha * delta * 2 * static_cast<double>(m));
}

// Mahloujifar et al.'s test of a trade-off curve f: positive iff the scores reject it. Here f is
// the curve of (ε, δ)-DP itself, which every (ε, δ)-DP mechanism satisfies; the recursion needs it
// as x ↦ f(1 − x).
double fdp_objective(int64_t m, int64_t r, int64_t v, double epsilon, double delta,
                     double significance) {
  auto blow_up_inverse = [epsilon, delta](double x) {
    if (x <= 0) return 0.0;  // f(1) = 0
    const double alpha = std::min(1.0, 1 - x);
    const double scaled = alpha > 0 ? std::exp(epsilon) * alpha : 0.0;
    return std::min(1.0,
                    std::max({0.0, 1 - delta - scaled, std::exp(-epsilon) * (1 - delta - alpha)}));
  };
  const double md = static_cast<double>(m);
  double correct = significance * static_cast<double>(v) / md;
  double wrong = significance * static_cast<double>(r - v) / md;
  for (int64_t i = v - 1; i >= 0; --i) {
    const double next_wrong = std::max(wrong, blow_up_inverse(correct));
    if (next_wrong == wrong) break;  // neither can change any more
    correct = std::min(
        1.0, correct + static_cast<double>(i) / static_cast<double>(r - i) * (next_wrong - wrong));
    wrong = next_wrong;
  }
  return correct + wrong - static_cast<double>(r) / md;
}

// Largest ε ≥ eps_low that the test rejects (eps_low if it rejects none): `rejects(ε)` is
// monotone, true for small ε.
template <typename Rejects>
double largest_rejected(double eps_low, Rejects&& rejects) {
  if (!rejects(eps_low)) return eps_low;
  double low = eps_low, high = std::max(1.0, 2 * eps_low);
  while (rejects(high)) {
    low = high;
    high *= 2;
    if (high > 1e4) return high;
  }
  for (int i = 0; i < 60 && high - low > 1e-9; ++i) {
    const double middle = 0.5 * (low + high);
    (rejects(middle) ? low : high) = middle;
  }
  return low;
}

}  // namespace

// Tests with fewer guesses than this cannot reject anything at the significances used here.
constexpr int64_t kFewestGuesses = 16;

CanaryAuditor::CanaryAuditor(std::vector<double> in_scores, std::vector<double> out_scores,
                             double member_prior)
    : member_prior_(member_prior), in_(std::move(in_scores)), out_(std::move(out_scores)) {
  if (in_.empty() || out_.empty()) {
    throw std::invalid_argument("the auditor needs at least one IN and one OUT score");
  }
  if (!(member_prior > 0 && member_prior < 1)) {
    throw std::invalid_argument("the auditor's member prior must lie in (0, 1)");
  }
  for (double s : in_) {
    if (std::isnan(s)) throw std::invalid_argument("IN scores contain NaN");
  }
  for (double s : out_) {
    if (std::isnan(s)) throw std::invalid_argument("OUT scores contain NaN");
  }
  std::sort(in_.begin(), in_.end());
  std::sort(out_.begin(), out_.end());
  std::merge(in_.begin(), in_.end(), out_.begin(), out_.end(), std::back_inserter(all_));
  // The family depends on the number of canaries only, never on which are IN.
  const int64_t m = static_cast<int64_t>(all_.size());
  for (int64_t k = (m + 1) / 2; k >= kFewestGuesses || guess_counts_.empty(); k = (k + 1) / 2) {
    guess_counts_.push_back(std::max<int64_t>(1, k));
    if (k <= 1) break;
  }
  build_hull();
}

CanaryAuditor::Guess CanaryAuditor::guess_top(int64_t k, bool lowest) const {
  const int64_t m = static_cast<int64_t>(all_.size());
  k = std::clamp<int64_t>(k, 1, m);
  Guess guess;
  if (!lowest) {
    const double threshold = all_[static_cast<size_t>(m - k)];
    guess.guesses = all_.end() - std::lower_bound(all_.begin(), all_.end(), threshold);
    guess.correct = in_.end() - std::lower_bound(in_.begin(), in_.end(), threshold);
  } else {
    const double threshold = all_[static_cast<size_t>(k - 1)];
    guess.guesses = std::upper_bound(all_.begin(), all_.end(), threshold) - all_.begin();
    guess.correct = std::upper_bound(in_.begin(), in_.end(), threshold) - in_.begin();
  }
  return guess;
}

double CanaryAuditor::epsilon_one_run_impl(double significance, double delta, bool fdp) const {
  if (fdp && !fair_coin()) {
    throw std::logic_error("the one-run f-DP bound assumes canaries IN with probability 1/2, not " +
                           std::to_string(member_prior_));
  }
  const int64_t m = num_in() + num_out();
  const double corrected = significance / static_cast<double>(guess_counts_.size());
  const double prior = member_prior_;
  double best = 0;
  for (int64_t k : guess_counts_) {
    // Plain names, not a structured binding: the lambdas below capture them (clang 14, which the
    // fuzz build uses, cannot capture a binding).
    const Guess top = guess_top(k);
    const int64_t guesses = top.guesses, correct = top.correct;
    if (static_cast<double>(correct) <=
        logistic(best + logit(prior)) * static_cast<double>(guesses)) {
      continue;  // no better precision than the best ε so far: cannot reject a larger one
    }
    double epsilon;
    if (fdp) {
      epsilon = largest_rejected(best, [&](double e) {
        return fdp_objective(m, guesses, correct, e, delta, corrected) > 0;
      });
    } else {
      if (one_run_p_value(m, guesses, correct, best, 0, prior) > corrected)
        continue;  // δ = 0 fails
      epsilon = largest_rejected(best, [&](double e) {
        return one_run_p_value(m, guesses, correct, e, delta, prior) < corrected;
      });
    }
    best = std::max(best, epsilon);
  }
  return best;
}

double CanaryAuditor::epsilon_one_run(double significance, double delta) const {
  return epsilon_one_run_impl(significance, delta, /*fdp=*/false);
}

double CanaryAuditor::epsilon_one_run_fdp(double significance, double delta) const {
  return epsilon_one_run_impl(significance, delta, /*fdp=*/true);
}

template <typename Bound>
double CanaryAuditor::best_multi_run(double significance, Bound&& bound) const {
  // Every test of the family in both directions, each needing an upper bound on FNR and on FPR.
  const double corrected = significance / (4.0 * static_cast<double>(guess_counts_.size()));
  double best = 0;
  for (int64_t k : guess_counts_) {
    for (const bool lowest : {false, true}) {
      const auto [guesses, correct] = guess_top(k, lowest);
      const double fnr_ub = clopper_pearson_upper(num_in() - correct, num_in(), corrected);
      const double fpr_ub = clopper_pearson_upper(guesses - correct, num_out(), corrected);
      best = std::max(best, bound(fnr_ub, fpr_ub));
    }
  }
  return best;
}

double CanaryAuditor::epsilon_clopper_pearson(double significance, double delta) const {
  return best_multi_run(significance, [delta](double fnr_ub, double fpr_ub) {
    const double tpr_lb = 1 - fnr_ub;
    return tpr_lb > delta ? std::log(tpr_lb - delta) - std::log(fpr_ub) : 0.0;
  });
}

double CanaryAuditor::epsilon_from_gdp(double significance, double delta) const {
  const double mu = best_multi_run(significance, [delta](double fnr_ub, double fpr_ub) {
    if (std::max(fnr_ub, fpr_ub) >= 1 - delta) return 0.0;
    return privacy::normal_quantile(1 - fpr_ub) - privacy::normal_quantile(fnr_ub);
  });
  if (mu <= 0) return 0;
  // μ-GDP ⇒ (ε, δ(ε)) with δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2); solve δ(ε) = delta.
  auto log_delta_gap = [&](double epsilon) {
    const double log_first = privacy::log_ndtr(-epsilon / mu + mu / 2),
                 log_second = epsilon + privacy::log_ndtr(-epsilon / mu - mu / 2);
    // δ(ε) > 0 always, but far in the tail the two terms agree to their last bits and rounding
    // can order them the wrong way (found by fuzz/scores_fuzzer.cpp: log_sub threw and
    // audit-scores --multi-run died): δ(ε) is then below anything a δ claim could be.
    if (!(log_first > log_second)) return -std::numeric_limits<double>::infinity();
    return privacy::log_sub(log_first, log_second) - std::log(delta);
  };
  double low = 0, high = 100;
  if (log_delta_gap(low) <= 0) return 0;
  if (log_delta_gap(high) >= 0) return high;
  for (int i = 0; i < 100 && high - low > 1e-9; ++i) {
    const double middle = 0.5 * (low + high);
    (log_delta_gap(middle) > 0 ? low : high) = middle;
  }
  return 0.5 * (low + high);
}

// The concave frontier of (FN, TN) over every distinct score: the ROC hull, for the descriptive
// metrics (AUROC, TPR at FPR, balanced accuracy). Never used for a bound: it depends on the labels.
void CanaryAuditor::build_hull() {
  std::vector<double> all = all_;
  all.erase(std::unique(all.begin(), all.end()), all.end());
  all.push_back(kInf);
  std::vector<int64_t> fn(all.size()), tn(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    fn[i] = std::lower_bound(in_.begin(), in_.end(), all[i]) - in_.begin();
    tn[i] = std::lower_bound(out_.begin(), out_.end(), all[i]) - out_.begin();
  }
  // Repeatedly drop every point that lies on or below the chord of its neighbours (a threshold no
  // better than mixing two others).
  std::vector<size_t> keep(all.size());
  std::iota(keep.begin(), keep.end(), size_t{0});
  while (keep.size() > 2) {
    std::vector<size_t> next = {keep.front()};
    bool dropped = false;
    for (size_t i = 1; i + 1 < keep.size(); ++i) {
      const double dx1 = static_cast<double>(fn[keep[i]] - fn[keep[i - 1]]);
      const double dy1 = static_cast<double>(tn[keep[i]] - tn[keep[i - 1]]);
      const double dx2 = static_cast<double>(fn[keep[i + 1]] - fn[keep[i]]);
      const double dy2 = static_cast<double>(tn[keep[i + 1]] - tn[keep[i]]);
      if (dy1 * dx2 - dy2 * dx1 <= 0) {
        dropped = true;
      } else {
        next.push_back(keep[i]);
      }
    }
    next.push_back(keep.back());
    keep.swap(next);
    if (!dropped) break;
  }
  for (size_t index : keep) {
    thresholds_.push_back(all[index]);
    fn_.push_back(fn[index]);
    tn_.push_back(tn[index]);
  }
}

double CanaryAuditor::auroc() const {
  // Area under TNR as a function of FNR over the hull, by trapezoids (equals the ROC area).
  double area = 0;
  const double n_in = static_cast<double>(num_in()), n_out = static_cast<double>(num_out());
  for (size_t i = 1; i < thresholds_.size(); ++i) {
    area += 0.5 * (static_cast<double>(tn_[i - 1] + tn_[i]) / n_out) *
            (static_cast<double>(fn_[i] - fn_[i - 1]) / n_in);
  }
  return area;
}

double CanaryAuditor::tpr_at_fpr(double fpr) const {
  if (!(fpr >= 0 && fpr <= 1)) throw std::domain_error("fpr must lie in [0, 1]");
  // Hull points in increasing FP order (highest threshold first).
  const size_t count = thresholds_.size();
  std::vector<double> tp(count), fp(count);
  for (size_t i = 0; i < count; ++i) {
    tp[i] = static_cast<double>(num_in() - fn_[count - 1 - i]);
    fp[i] = static_cast<double>(num_out() - tn_[count - 1 - i]);
  }
  const double target = static_cast<double>(num_out()) * fpr;
  size_t right = std::upper_bound(fp.begin(), fp.end(), target) - fp.begin();
  right = std::min(right, count - 1);
  if (right == 0) return tp[0] / static_cast<double>(num_in());
  const size_t left = right - 1;
  const double weight = fp[right] == fp[left] ? 0.0 : (target - fp[left]) / (fp[right] - fp[left]);
  return (tp[left] + weight * (tp[right] - tp[left])) / static_cast<double>(num_in());
}

double CanaryAuditor::balanced_accuracy() const {
  double best = 0.5;
  for (size_t i = 0; i < thresholds_.size(); ++i) {
    const double tpr = static_cast<double>(num_in() - fn_[i]) / static_cast<double>(num_in());
    const double tnr = static_cast<double>(tn_[i]) / static_cast<double>(num_out());
    best = std::max(best, 0.5 * (tpr + tnr));
  }
  return best;
}

std::string CanaryAuditor::roc_csv() const {
  std::string csv = "threshold,fpr,tpr\n";
  std::vector<double> all = all_;
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const double tp =
        static_cast<double>(in_.end() - std::lower_bound(in_.begin(), in_.end(), *it));
    const double fp =
        static_cast<double>(out_.end() - std::lower_bound(out_.begin(), out_.end(), *it));
    csv += fmt::format("{},{},{}\n", *it, fp / static_cast<double>(num_out()),
                       tp / static_cast<double>(num_in()));
  }
  return csv;
}

std::vector<std::pair<double, double>> CanaryAuditor::roc_points(size_t max_points) const {
  std::vector<double> all = all_;
  all.erase(std::unique(all.begin(), all.end()), all.end());
  std::vector<std::pair<double, double>> points;
  const double log_first = std::log(1e-5),
               step = -log_first / static_cast<double>(std::max<size_t>(max_points, 2) - 1);
  double next_log_fpr = -std::numeric_limits<double>::infinity();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const double tp =
        static_cast<double>(in_.end() - std::lower_bound(in_.begin(), in_.end(), *it));
    const double fp =
        static_cast<double>(out_.end() - std::lower_bound(out_.begin(), out_.end(), *it));
    const double fpr = fp / static_cast<double>(num_out()),
                 tpr = tp / static_cast<double>(num_in());
    const bool last = std::next(it) == all.rend();
    if (points.empty() || last || (fpr > 0 && std::log(fpr) >= next_log_fpr)) {
      points.emplace_back(fpr, tpr);
      if (fpr > 0) next_log_fpr = std::max(log_first, std::log(fpr)) + step;
    }
  }
  return points;
}

}  // namespace dpforge::audit
