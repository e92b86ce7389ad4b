// SPDX-License-Identifier: Apache-2.0
// The auditor against jax_privacy's golden values (same deterministic-normal scores), naive
// re-implementations of its bounds, and known closed forms.
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>

#include "audit/planted_faults.h"
#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/mia.h"
#include "dpforge/audit/null_audits.h"
#include "dpforge/audit/scores_file.h"
#include "dpforge/audit/sensitivity_check.h"
#include "dpforge/audit/shadow_attacks.h"
#include "dpforge/audit/statistics.h"
#include "dpforge/audit/summary.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/core/error.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/tape.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/privacy/log_math.h"
#include "dpforge/run/input_canary_audit.h"
#include "dpforge/run/run.h"
#include "dpforge/run/shadow_audit.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/steps.h"
#include "dpforge/train/trainer.h"
#include "test_util.h"

namespace dpforge::audit {
namespace {

// Φ⁻¹ at the midpoints of n equal bins: scores "deterministically" N(mean, 1) (jax_privacy's
// tests).
std::vector<double> deterministic_normal(double mean, int n) {
  std::vector<double> scores;
  for (int i = 0; i < n; ++i) {
    scores.push_back(mean + privacy::normal_quantile((i + 0.5) / n));
  }
  return scores;
}

// i.i.d. N(mean, 1) scores from a fixed seed: the randomness a real audit faces.
std::vector<double> random_normal(double mean, int n, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(mean, 1.0);
  std::vector<double> scores(static_cast<size_t>(n));
  for (auto& score : scores) score = normal(engine);
  return scores;
}

// ε at δ of the μ-GDP mechanism: δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Dong, Roth & Su).
double gdp_epsilon(double mu, double delta) {
  double low = 0, high = 100;
  for (int i = 0; i < 200; ++i) {
    const double e = 0.5 * (low + high);
    const double log_a = privacy::log_ndtr(-e / mu + mu / 2),
                 log_b = e + privacy::log_ndtr(-e / mu - mu / 2);
    const double d = log_b < log_a ? std::exp(log_a) * -std::expm1(log_b - log_a) : 0.0;
    (d > delta ? low : high) = e;
  }
  return high;
}

double binomial_pmf(int64_t k, int64_t n, double p) {
  return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                  k * std::log(p) + (n - k) * std::log1p(-p));
}

TEST(Statistics, IncompleteBetaAndBinomialTails) {
  EXPECT_NEAR(incomplete_beta(2, 3, 0.5), 0.6875, 1e-14);  // 11/16
  EXPECT_NEAR(incomplete_beta(1, 1, 0.3), 0.3, 1e-14);
  for (int64_t n : {5, 60, 700}) {
    for (double p : {0.1, 0.5, 0.93}) {
      for (int64_t k : {int64_t{1}, n / 3, n - 1}) {
        double tail = 0;
        for (int64_t j = k; j <= n; ++j) tail += binomial_pmf(j, n, p);
        EXPECT_NEAR(binomial_at_least(k, n, p), tail, 1e-12 + 1e-9 * tail)
            << n << " " << p << " " << k;
      }
    }
  }
}

TEST(Statistics, ClopperPearsonHasTheStatedCoverage) {
  for (auto [k, n] : {std::pair<int64_t, int64_t>{0, 10}, {3, 10}, {40, 100}, {900, 1000}}) {
    const double upper = clopper_pearson_upper(k, n, 0.05);
    double at_most_k = 0;
    for (int64_t j = 0; j <= k; ++j) at_most_k += binomial_pmf(j, n, upper);
    EXPECT_NEAR(at_most_k, 0.05, 1e-9);
  }
  EXPECT_EQ(clopper_pearson_upper(10, 10, 0.05), 1.0);
}

TEST(Statistics, GaussianSigmaInvertsTheAnalyticGaussian) {
  const double sigma = gaussian_sigma_for(1.0, 1e-5);
  const double delta = privacy::normal_cdf(0.5 / sigma - sigma) -
                       std::exp(1.0) * privacy::normal_cdf(-0.5 / sigma - sigma);
  EXPECT_NEAR(delta, 1e-5, 1e-12);
  EXPECT_NEAR(sigma, 3.73, 0.01);  // the textbook value at (1, 1e-5)
}

TEST(CanaryAuditor, ThresholdFrontierMatchesReferenceCases) {
  CanaryAuditor simple({1.5, 2.5, 0.5, 3.5}, {0, 3, 2, 1});
  EXPECT_THAT(simple.thresholds(), ::testing::ElementsAre(0, 0.5, 3.5, INFINITY));
  EXPECT_THAT(simple.tn_counts(), ::testing::ElementsAre(0, 1, 4, 4));
  EXPECT_THAT(simple.fn_counts(), ::testing::ElementsAre(0, 0, 3, 4));
  CanaryAuditor ties({0, 0, 1, 2}, {0, 1, 1, 1});
  EXPECT_THAT(ties.thresholds(), ::testing::ElementsAre(0, 2, INFINITY));
  CanaryAuditor zeros({0, 0, 0, 0}, {0, 0, 0, 0});
  EXPECT_THAT(zeros.thresholds(), ::testing::ElementsAre(0, INFINITY));
}

TEST(CanaryAuditor, MetricsMatchClosedForms) {
  CanaryAuditor simple({0, 4, 6, 7}, {1, 2, 3, 5});
  EXPECT_NEAR(simple.auroc(), 13.0 / 16, 1e-12);
  CanaryAuditor two({1, 3}, {0, 2});
  EXPECT_NEAR(two.tpr_at_fpr(0.25), 0.75, 1e-12);
  EXPECT_NEAR(two.tpr_at_fpr(0.0), 0.5, 1e-12);
  // jax_privacy docstring: in = arange(100) + 9.5, out = arange(100).
  std::vector<double> in, out;
  for (int i = 0; i < 100; ++i) {
    in.push_back(i + 9.5);
    out.push_back(i);
  }
  CanaryAuditor shifted(in, out);
  EXPECT_NEAR(shifted.tpr_at_fpr(0.01), 0.11, 1e-9);
  EXPECT_NEAR(shifted.auroc(), 0.595, 1e-9);
  // A circular ROC arc: AUROC = π/4 and TPR(FPR) = √(FPR(2 − FPR)).
  std::vector<double> arc_in, arc_out;
  for (int i = 0; i < 10000; ++i) {
    arc_out.push_back(i / 9999.0);
    arc_in.push_back(std::sqrt(1 - std::pow(i / 9999.0, 2)));
  }
  CanaryAuditor arc(arc_in, arc_out);
  EXPECT_NEAR(arc.auroc(), M_PI / 4, 1e-3);
  EXPECT_NEAR(arc.tpr_at_fpr(0.3), std::sqrt(0.3 * 1.7), 1e-3);
}

// jax_privacy's one-run values (tests/auditing_test.py: 10k IN ~ N(s, 1), 10k OUT ~ N(0, 1),
// α = 0.05, δ = 1e-6), which dpforge reproduced while it corrected over the ROC hull (thousands of
// thresholds for smooth scores): the fixed family (11 sizes here) pays a far smaller correction, so
// its bounds are higher, and still below the true ε of these scores (an s-GDP mechanism).
TEST(CanaryAuditor, OneRunBoundsBeatTheHullCorrectedValuesAndStayBelowTheTruth) {
  struct Golden {
    double shift, hull_steinke;
  };
  for (const auto& golden : {Golden{1, 1.13346}, Golden{2, 2.311945}, Golden{4, 4.395568}}) {
    CanaryAuditor auditor(deterministic_normal(golden.shift, 10000),
                          deterministic_normal(0, 10000));
    const double truth = gdp_epsilon(golden.shift, 1e-6);
    for (const double bound :
         {auditor.epsilon_one_run(0.05, 1e-6), auditor.epsilon_one_run_fdp(0.05, 1e-6)}) {
      EXPECT_GE(bound, golden.hull_steinke) << golden.shift;
      EXPECT_LE(bound, truth) << golden.shift;
    }
  }
}

TEST(CanaryAuditor, PerfectSeparationHitsTheKnownCapsAndRandomScoresGiveZero) {
  std::vector<double> in(500, 1.0), out(500, 0.0);
  CanaryAuditor perfect(in, out);
  EXPECT_THAT(perfect.guess_counts(), ::testing::ElementsAre(500, 250, 125, 63, 32, 16));
  EXPECT_GT(perfect.epsilon_one_run(0.05, 1e-5), 4.0);  // 500 of 1000 correct: cap ≈ 5.09
  EXPECT_LT(perfect.epsilon_one_run(0.05, 1e-5), 5.1);
  // Multi-run Clopper–Pearson, 500 runs per world: 95% split over the family's 6 sizes, both
  // directions and both rates (24 one-sided bounds): ε = ln((1 − u)/u), u = CP_ub(0 of 500).
  const double u = clopper_pearson_upper(0, 500, 0.05 / 24);
  EXPECT_NEAR(perfect.epsilon_clopper_pearson(0.05, 0.0), std::log((1 - u) / u), 1e-9);
  EXPECT_NEAR(perfect.auroc(), 1.0, 1e-12);
  CanaryAuditor none(deterministic_normal(0, 5000), deterministic_normal(0, 5000));
  EXPECT_EQ(none.epsilon_one_run(0.05, 1e-5), 0.0);
  EXPECT_EQ(none.epsilon_one_run_fdp(0.05, 1e-5), 0.0);
  EXPECT_EQ(none.epsilon_clopper_pearson(0.05, 1e-5), 0.0);
  EXPECT_EQ(none.epsilon_from_gdp(0.05, 1e-5), 0.0);
  EXPECT_NEAR(none.auroc(), 0.5, 1e-3);
}

TEST(CanaryAuditor, MultiRunBoundsAreBelowButNearTheTruthForAGaussianMechanism) {
  // Scores N(μ, 1) vs N(0, 1) are exactly a μ-GDP mechanism: ε(δ) is known in closed form.
  const double mu = 1.0, delta = 0.1;
  CanaryAuditor auditor(deterministic_normal(mu, 200000), deterministic_normal(0, 200000));
  const double truth = gdp_epsilon(mu, delta);
  const double cp = auditor.epsilon_clopper_pearson(0.2, delta);
  EXPECT_LT(cp, truth);
  EXPECT_GT(cp, 0.7 * truth);
  const double gdp = auditor.epsilon_from_gdp(0.1, delta);
  EXPECT_LT(gdp, truth * 1.001);
  EXPECT_GT(gdp, 0.85 * truth);
}

// Issue 17: on 2,500 + 2,500 i.i.d. N(0, 1) scores the GDP bound read the reversed classifier as
// evidence (|Φ⁻¹(1 − FPR_ub) − Φ⁻¹(FNR_ub)|) and printed 1.92. Every bound, on null scores of
// several sizes and seeds, must stay at (about) zero.
TEST(CanaryAuditor, EveryBoundIsNearZeroOnNullScores) {
  for (int n : {500, 2500, 10000}) {
    for (uint64_t seed : {1, 2, 3, 4}) {
      const CanaryAuditor auditor(random_normal(0, n, seed), random_normal(0, n, seed + 100));
      const auto bounds = summarize(auditor, 0.95, 1e-5, /*multi_run=*/true)["epsilon_lower_bound"];
      for (const auto& [name, bound] : bounds.items()) {
        EXPECT_LE(bound.get<double>(), 0.05) << name << " n=" << n << " seed=" << seed;
      }
    }
  }
}

// Scores N(μ, 1) for members and N(0, 1) for the others are the output of a μ-GDP mechanism: its
// ε at δ is exact, and no valid lower bound may pass it.
TEST(CanaryAuditor, EveryBoundIsBelowTheTrueEpsilonOfAGaussianShift) {
  for (double mu : {0.5, 1.0, 2.0, 4.0}) {
    const double truth = gdp_epsilon(mu, 1e-5);
    for (uint64_t seed : {1, 2, 3}) {
      const CanaryAuditor auditor(random_normal(mu, 5000, seed),
                                  random_normal(0, 5000, seed + 100));
      const auto bounds = summarize(auditor, 0.95, 1e-5, /*multi_run=*/true)["epsilon_lower_bound"];
      for (const auto& [name, bound] : bounds.items()) {
        EXPECT_LE(bound.get<double>(), truth) << name << " mu=" << mu << " seed=" << seed;
      }
    }
  }
}

// The size of each bound as a test of "ε = 0" on null scores: how often it is positive at the 5%
// level. The family is fixed before the labels are seen, so Bonferroni keeps every rate at most
// 5% (the ROC-hull family chose its thresholds from the labels).
TEST(CanaryAuditor, FixedFamilyKeepsTheNominalSizeOnNullScores) {
  constexpr int kRepetitions = 2000;
  std::map<std::string, int> positive;
  for (int r = 0; r < kRepetitions; ++r) {
    const CanaryAuditor auditor(random_normal(0, 100, 7000 + r), random_normal(0, 100, 9000 + r));
    const auto bounds = summarize(auditor, 0.95, 0.0, /*multi_run=*/true)["epsilon_lower_bound"];
    for (const auto& [name, bound] : bounds.items()) positive[name] += bound.get<double>() > 0;
  }
  // 5% of 2000 is 100; three binomial standard deviations above it is 129.
  for (const auto& [name, count] : positive) {
    std::printf("size at the 5%% level on null scores, %s: %d of %d\n", name.c_str(), count,
                kRepetitions);
    EXPECT_LE(count, 129) << name;
  }
}

// Score files from other tools have any fraction of members (issue 40 item 2): with 90% members,
// "member" for every row is right 90% of the time, which a fair-coin null read as ε ≈ 2.15. The
// one-run test now uses the prior (the file's fraction, as audit-scores does); scores independent
// of membership, half of the files with ties everywhere, must read ≈ 0 and be positive at most at
// the 5% level over 1,000 files per fraction.
TEST(CanaryAuditor, OneRunBoundKeepsItsSizeAtAnyMemberFraction) {
  constexpr int kFiles = 1000, kRows = 1000;
  for (double fraction : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    int positive = 0;
    double total = 0;
    for (int file = 0; file < kFiles; ++file) {
      std::mt19937_64 engine(31'000 + static_cast<uint64_t>(file) +
                             static_cast<uint64_t>(fraction * 1e6));
      std::bernoulli_distribution member(fraction);
      std::normal_distribution<double> normal;
      std::vector<double> in, out;
      for (int row = 0; row < kRows; ++row) {
        const double score = file % 2 == 0 ? normal(engine) : std::round(normal(engine));
        (member(engine) ? in : out).push_back(score);
      }
      const double prior = static_cast<double>(in.size()) / kRows;
      const CanaryAuditor auditor(std::move(in), std::move(out), prior);
      const double bound = auditor.epsilon_one_run(0.05, 1e-5);
      positive += bound > 0;
      total += bound;
    }
    std::printf("one-run bound > 0 on null files with %.0f%% members: %d of %d, mean %.4f\n",
                100 * fraction, positive, kFiles, total / kFiles);
    // 5% of 1000 is 50; three binomial standard deviations above it is 71.
    EXPECT_LE(positive, 71) << fraction;
    EXPECT_LE(total / kFiles, 0.01) << fraction;
  }
}

TEST(AuditScoresCli, IdenticalScoresReadZeroAtAnyMemberFraction) {
  testing::TempDir dir;
  for (int members : {500, 700, 800, 900}) {
    std::string csv = "score,member\n";
    for (int row = 0; row < 1000; ++row) csv += fmt::format("0.5,{}\n", row < members ? 1 : 0);
    testing::write_text(dir / "tied.csv", csv);
    const auto result = testing::run_command(std::string(DPFORGE_CLI) + " audit-scores " +
                                             (dir / "tied.csv").string() + " --json");
    ASSERT_EQ(result.exit_code, kExitOk) << result.output;
    const auto json = nlohmann::json::parse(result.output);
    EXPECT_EQ(json["epsilon_lower_bound"]["one_run_steinke"].get<double>(), 0.0) << members;
    EXPECT_NEAR(json["member_prior"].get<double>(), members / 1000.0, 1e-12);
    // The f-DP test's analysis needs fair coins: absent unless the prior is 1/2.
    EXPECT_EQ(json["epsilon_lower_bound"]["one_run_fdp"].is_null(), members != 500) << members;
  }
  const auto refused = testing::run_command(std::string(DPFORGE_CLI) + " audit-scores " +
                                            (dir / "tied.csv").string() + " --member-prior 1");
  EXPECT_EQ(refused.exit_code, kExitBadInput);
  EXPECT_THAT(refused.output, ::testing::HasSubstr("--member-prior 1 is invalid"));
}

// A TPR at 0.1% FPR from fewer than 10,000 non-members rests on fewer than 10 of them.
TEST(CanaryAuditor, TprAtLowFprIsMarkedUnresolvedOnTooFewNonMembers) {
  for (const auto& [non_members, resolved_at_0_1pct] : {std::pair{9999, false}, {10000, true}}) {
    std::vector<double> in(100), out(non_members);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(i % 97);
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<double>(i % 89) + 0.5;
    const auto json = audit::tpr_at_fpr_json(audit::CanaryAuditor(in, out));
    EXPECT_EQ(json["tpr_at_fpr_resolved"]["0.001"], resolved_at_0_1pct) << non_members;
    EXPECT_EQ(json["tpr_at_fpr_resolved"]["0.01"], true) << non_members;
    EXPECT_TRUE(json["tpr_at_fpr"]["0.001"].is_number());
  }
  const auto few = audit::tpr_at_fpr_json(
      audit::CanaryAuditor(std::vector<double>{1, 2, 3}, std::vector<double>(999, 0.0)));
  EXPECT_EQ(few["tpr_at_fpr_resolved"]["0.01"], false);
}

TEST(CanaryAuditor, RejectsEmptyOrNanScores) {
  EXPECT_THROW(CanaryAuditor({}, {1.0}), std::invalid_argument);
  EXPECT_THROW(CanaryAuditor({NAN}, {1.0}), std::invalid_argument);
}

}  // namespace
}  // namespace dpforge::audit

namespace dpforge::audit {
namespace {

config::Recipe audited_recipe(double target_epsilon, uint64_t seed) {
  config::Recipe recipe;
  recipe.data.train_subset(5000).test_subset(500);
  recipe.model.arch(nn::Arch::kMlp).mlp_hidden(32);
  recipe.train.epochs(4)
      .batch_size(250)
      .max_physical_batch(250)
      .optimizer(config::OptimizerKind::kSgd)
      .lr(1.0)
      .momentum(0.9)
      .seed(seed);
  recipe.privacy.enabled(true)
      .max_grad_norm(1.0)
      .target_epsilon(target_epsilon)
      .accountant(privacy::AccountantKind::kRdp);
  recipe.audit.canaries(2000).seed(seed + 1000);
  return recipe;
}

nlohmann::json audit_of(const config::Recipe& recipe) {
  testing::TempDir dir;
  return run::run_training(recipe, dir / "run", nullptr).report["audit"];
}

TEST(WhiteBoxAudit, CorrectRunsAreNeverFlagged) {
  for (uint64_t seed : {1, 2, 3}) {
    const auto audit = audit_of(audited_recipe(1.0, seed));
    EXPECT_EQ(audit["status"], "pass") << audit.dump();
    EXPECT_LE(audit["epsilon_lower_bound_best"].get<double>(), 1.0);
    EXPECT_NEAR(audit["verdict"]["tests"]["noise"]["noise_std_measured_over_claimed"].get<double>(),
                1.0, 0.02);
  }
}

// The verdict's false-alarm rate, measured on simulated faithful runs (no training): at most the
// stated family-wise level. Deterministic seeds; with the level at 1e-3, 1000 audits expect at
// most one flag, and Bonferroni makes the true rate lower still.
TEST(WhiteBoxAudit, FaithfulRunsAreFlaggedAtMostAtTheStatedLevel) {
  for (const NullAuditSetting& setting :
       {NullAuditSetting{1000, 40, 1.0, 0.1, 1e-5}, NullAuditSetting{1000, 10, 0.8, 1.0, 1e-5},
        NullAuditSetting{1000, 4, 3.0, 1.0, 1e-5}}) {
    const auto rate = simulate_null_audits(setting, 1000, 17);
    EXPECT_LE(rate.flagged, 3) << "q=" << setting.sample_rate;
    EXPECT_LT(rate.largest_lower_bound, rate.claimed_epsilon);
    std::printf(
        "null audits (m=%ld, T=%ld, sigma=%g, q=%g, claimed eps %.3f; gates at eps' %.3f, "
        "delta' %.3g): %ld of %ld flagged (level %g); largest 95%% bound %.3f\n",
        static_cast<long>(setting.canaries), static_cast<long>(setting.steps),
        setting.noise_multiplier, setting.sample_rate, rate.claimed_epsilon, rate.gate.epsilon,
        rate.gate.delta, static_cast<long>(rate.flagged), static_cast<long>(rate.audits),
        kVerdictLevel, rate.largest_lower_bound);
  }
}

// Found by fuzz/scores_fuzzer.cpp: with infinite scores on both sides the multi-run GDP bound's
// bisection reached ε where δ(ε)'s two terms round the wrong way, and log_sub threw out of
// audit-scores --multi-run. Every bound is now a number >= 0.
TEST(CanaryAuditor, TheMultiRunBoundsSurviveRoundingInTheGdpTail) {
  std::ifstream file(std::string(DPFORGE_SOURCE_DIR) + "/fuzz/corpus/scores/regression-gdp-tail");
  auto rows = parse_scores(file, "regression-gdp-tail");
  const CanaryAuditor auditor(std::move(rows.members), std::move(rows.non_members));
  const auto summary = summarize(auditor, 0.95, 1e-5, /*multi_run=*/true);
  for (const auto& [name, bound] : summary["epsilon_lower_bound"].items()) {
    ASSERT_TRUE(bound.is_number()) << name;
    EXPECT_GE(bound.get<double>(), 0) << name;
  }
}

// Two-sided: a mechanism that adds more noise than claimed, or whose canaries contribute less than
// one clipped example each (the step's sum clipped once: z = -15 in issue 43), is flagged as
// surely as one with less noise or unclipped canaries; at significance 0.001, |z| below the
// two-sided critical value 3.29 passes (the one-sided test's was 3.09).
TEST(WhiteBoxAudit, ConformanceTestsFlagDeviationsInBothDirections) {
  const auto flags = [](double noise_z, double member_z) {
    DiracCanaries::Conformance c;
    c.noise_z = noise_z;
    c.member_z = member_z;
    const auto gates = conformance_gates(c, 0.01, 0.001);
    return std::pair{gates["noise"]["flags"].get<bool>(),
                     gates["sampling_and_clipping"]["flags"].get<bool>()};
  };
  EXPECT_EQ(flags(0, 0), std::pair(false, false));
  EXPECT_EQ(flags(-15.3, 15.3), std::pair(true, true));  // less noise; canaries unclipped
  EXPECT_EQ(flags(15.3, -15.3), std::pair(true, true));  // more noise; the sum clipped once
  EXPECT_EQ(flags(3.2, -3.2), std::pair(false, false));  // past 3.09, within 3.29
  EXPECT_EQ(flags(-3.2, 3.2), std::pair(false, false));
  EXPECT_EQ(flags(3.35, -3.35), std::pair(true, true));
}

// The same at the size of a real audit (5000 canaries, 500 steps): minutes, so labelled long.
TEST(WhiteBoxAudit, FaithfulRunsAtRealisticSizeAreFlaggedAtMostAtTheStatedLevel_LONG) {
  const NullAuditSetting setting{5000, 500, 1.0, 0.01, 1e-5};
  const auto rate = simulate_null_audits(setting, 1000, 29);
  std::printf(
      "null audits (m=5000, T=500, sigma=1, q=0.01, claimed eps %.3f; gates at eps' %.3f, "
      "delta' %.3g): %ld of 1000 flagged (level %g); largest 95%% bound %.3f\n",
      rate.claimed_epsilon, rate.gate.epsilon, rate.gate.delta, static_cast<long>(rate.flagged),
      kVerdictLevel, rate.largest_lower_bound);
  EXPECT_LE(rate.flagged, 3);
}

// The accountant test is exact: it flags an accountant that composed another q, σ or number of
// steps than the mechanism ran (the mutation suite's "accountant told half of q"), and nothing
// else.
TEST(WhiteBoxAudit, AnAccountantThatComposedAnotherMechanismIsFlagged) {
  const privacy::SgmSteps ran{1.1, 0.02, 500};
  EXPECT_FALSE(accountant_gate(ran, {ran})["flags"].get<bool>());
  EXPECT_FALSE(accountant_gate(ran, {{1.1, 0.02, 200}, {1.1, 0.02, 300}})["flags"].get<bool>());
  EXPECT_TRUE(accountant_gate(ran, {{1.1, 0.01, 500}})["flags"].get<bool>());
  EXPECT_TRUE(accountant_gate(ran, {{2.2, 0.02, 500}})["flags"].get<bool>());
  EXPECT_TRUE(accountant_gate(ran, {{1.1, 0.02, 499}})["flags"].get<bool>());
  EXPECT_TRUE(accountant_gate(ran, {})["flags"].get<bool>());
  // In a run's report the test is part of the verdict.
  const auto audit = audit_of(audited_recipe(2.0, 7));
  EXPECT_FALSE(audit["verdict"]["tests"]["accountant"]["flags"].get<bool>()) << audit.dump();
  EXPECT_EQ(audit["verdict"]["tests"]["accountant"]["composed"].size(), 1U);
}

// Each planted fault (tests/audit/planted_faults.h: the mechanism runs a broken plan while the
// accountant and the canaries are told the honest one) is flagged; the same run without a fault
// passes.
TEST(WhiteBoxAudit, EveryPlantedFaultIsFlagged) {
  using testing::Fault;
  for (const Fault fault :
       {Fault::kNoNoise, Fault::kHalfNoise, Fault::kNoClip, Fault::kWrongSampleRate}) {
    const auto audit = testing::white_box_verdict_of_a_planted_run(fault, 7);
    EXPECT_EQ(audit["status"], "violation") << static_cast<int>(fault) << ": " << audit.dump();
    if (fault == Fault::kNoNoise) {
      // Without noise the lower bound itself exceeds the claim, not just the conformance test.
      EXPECT_GT(audit["epsilon_lower_bound_best"].get<double>(), 2.0);
    }
  }
  const auto honest = testing::white_box_verdict_of_a_planted_run(Fault::kNone, 7);
  EXPECT_EQ(honest["status"], "pass") << honest.dump();
  EXPECT_LE(honest["epsilon_lower_bound_best"].get<double>(), 2.0);
}

// Black-box input canaries see only the released model, so they need a memorizing setup to prove
// anything: an MLP, 1000 examples, 30 epochs, a claim of epsilon 0.5. A model trained on the
// canaries without the noise (and without clipping: plainly, not privately) learns the flipped
// labels and the bound exceeds the claim, also at the verdict's strict level; the audit run of the
// same recipe with its noise stays at zero.
TEST(BlackBoxAudit, InputCanariesFlagAModelTrainedWithoutNoiseAndPassACorrectRun) {
  const auto root = data::default_fashion_mnist_root();
  const auto train_set =
      data::take_first(data::load_fashion_mnist(root, data::Split::kTrain), 1000);
  const auto test_set = data::take_first(data::load_fashion_mnist(root, data::Split::kTest), 2000);
  config::Recipe recipe;
  recipe.model.arch(nn::Arch::kMlp).mlp_hidden(256);
  recipe.train.epochs(30).batch_size(100).optimizer(config::OptimizerKind::kAdam).lr(2e-3);
  recipe.privacy.enabled(true).target_epsilon(0.5).accountant(privacy::AccountantKind::kRdp);
  const double significance = per_test_significance(6);
  constexpr int64_t kCanaries = 1000;
  constexpr uint64_t kAuditorSeed = 21;

  const auto correct = run::input_canary_audit(recipe, train_set, test_set, {}, kCanaries,
                                               kAuditorSeed, significance, nullptr);
  EXPECT_EQ(correct["status"], "pass") << correct.dump();
  EXPECT_LE(correct["epsilon_lower_bound_best"].get<double>(), 0.5);
  EXPECT_EQ(correct["canaries"], kCanaries);

  const auto canaries = run::make_input_canaries(train_set, test_set, kCanaries, kAuditorSeed);
  const auto& planted_set = canaries.training_set;
  auto model = nn::make_model(recipe.model, planted_set, 3);
  train::train_nonprivate(recipe.train, model, planted_set,
                          train::HeldOut{data::take_first(test_set, 500)}, 4, nullptr);
  // What the private run of this recipe on that set claims: its plan's steps, under add/remove.
  const auto plan = train::make_dp_plan(recipe.train, recipe.privacy,
                                        {.dataset_size = planted_set.size(),
                                         .planning_size = planted_set.size(),
                                         .parameters = nn::count_parameters(*model)});
  const auto claim = train::plan_accountants(plan)();
  claim->compose(plan.dp_event(plan.planned_steps));
  const auto leaked = run::judge_input_canaries(
      canaries, model, {claim->epsilon(plan.delta), plan.delta, claim.get()}, 0.95, significance);
  EXPECT_EQ(leaked["status"], "violation") << leaked.dump();
  EXPECT_GT(leaked["epsilon_lower_bound_best"].get<double>(), 0.5);
  EXPECT_NEAR(leaked["accountant_epsilon"].get<double>(), 0.5, 0.01);
}

// The input-canary audit run's randomness (initialization, sampling, noise) is the auditor's: the
// same auditor seed repeats its numbers exactly, another seed gives another run.
TEST(BlackBoxAudit, InputCanaryAuditRepeatsWithTheAuditorsSeed) {
  torch::manual_seed(4);
  const auto make = [](int64_t n) {
    data::Dataset set;
    set.inputs = torch::randn({n, 8});
    set.labels = torch::randint(0, 4, {n}, torch::kLong);
    set.num_classes = 4;
    return set;
  };
  const auto train = make(300), test = make(400);
  config::Recipe recipe;
  recipe.model.arch(nn::Arch::kMlp).mlp_hidden(16);
  recipe.train.epochs(3).batch_size(50);
  recipe.privacy.enabled(true).noise_multiplier(1.0).public_dataset_size(300);
  const auto audit = [&](uint64_t seed) {
    auto unrelated = nn::make_model(recipe.model, train);  // moves torch's global generator
    return run::input_canary_audit(recipe, train, test, {}, 200, seed, 1e-3, nullptr);
  };
  const auto first = audit(11), again = audit(11), other = audit(12);
  EXPECT_EQ(first["roc"], again["roc"]);
  EXPECT_EQ(first["epsilon_lower_bound_best"], again["epsilon_lower_bound_best"]);
  EXPECT_NE(first["roc"], other["roc"]);
}

TEST(AuditScoresCli, MatchesTheLibraryAndNamesBadLines) {
  testing::TempDir dir;
  std::string csv = "score,member\n";
  const auto in = deterministic_normal(1.0, 500), out = deterministic_normal(0.0, 500);
  for (double s : in) csv += fmt::format("{},1\n", s);
  for (double s : out) csv += fmt::format("{},0\n", s);
  testing::write_text(dir / "scores.csv", csv);
  auto result = testing::run_command(std::string(DPFORGE_CLI) + " audit-scores " +
                                     (dir / "scores.csv").string() + " --delta 1e-6 --json");
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto json = nlohmann::json::parse(result.output);
  const CanaryAuditor auditor(in, out);
  EXPECT_NEAR(json["epsilon_lower_bound"]["one_run_fdp"].get<double>(),
              auditor.epsilon_one_run_fdp(0.05, 1e-6), 1e-9);
  EXPECT_NEAR(json["auroc"].get<double>(), auditor.auroc(), 1e-12);

  testing::write_text(dir / "bad.csv", "score,member\n0.5,1\n0.2,2\n");
  result = testing::run_command(std::string(DPFORGE_CLI) + " audit-scores " +
                                (dir / "bad.csv").string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, ::testing::HasSubstr("bad.csv:3"));
}

}  // namespace
}  // namespace dpforge::audit

namespace dpforge::audit {
namespace {

TEST(MembershipInference, ScoresFollowTheirDefinitions) {
  // A "model" whose logits are its input: p = softmax(x).
  torch::nn::Sequential identity{torch::nn::Flatten()};
  const auto logits = torch::tensor({{2.0, 0.0, -1.0}}, torch::kFloat32);
  const data::Dataset one{logits.view({1, 3, 1, 1}), torch::tensor({0}, torch::kLong), 3};
  const auto scores = mia_scores(identity, one);
  const auto p = torch::softmax(logits.to(torch::kFloat64), 1)[0];
  const double p0 = p[0].item<double>(), p1 = p[1].item<double>(), p2 = p[2].item<double>();
  EXPECT_NEAR(scores.loss[0], std::log(p0), 1e-12);
  const double mentr = -(1 - p0) * std::log(p0) - p1 * std::log(1 - p1) - p2 * std::log(1 - p2);
  EXPECT_NEAR(scores.mentr[0], -mentr, 1e-12);
}

TEST(MembershipInference, OverfitNonPrivateModelLeaksAndADpModelDoesNot) {
  config::Recipe recipe;
  recipe.data.train_subset(500).subset(config::Subset::kRandom).test_subset(2000);
  recipe.model.arch(nn::Arch::kMlp).mlp_hidden(256);
  recipe.train.epochs(60).batch_size(50).optimizer(config::OptimizerKind::kAdam).lr(2e-3).seed(3);
  recipe.audit.seed(9);
  testing::TempDir dir;
  const auto overfit = run::run_training(recipe, dir / "overfit", nullptr).report["mia"];
  EXPECT_GT(overfit["loss"]["auroc"].get<double>(), 0.7) << overfit.dump();

  recipe.train.epochs(10).optimizer(config::OptimizerKind::kSgd).lr(0.5).momentum(0.9);
  recipe.privacy.enabled(true).max_grad_norm(1.0).target_epsilon(1.0).accountant(
      privacy::AccountantKind::kRdp);
  recipe.audit.canaries(500);
  const auto dp = run::run_training(recipe, dir / "dp", nullptr).report["mia"];
  EXPECT_LT(dp["loss"]["auroc"].get<double>(), 0.56) << dp.dump();

  // LiRA and RMIA with shadow models, after the fact, through the CLI (which reloads model.pt).
  const std::string audit =
      std::string(DPFORGE_CLI) + " audit --set audit.shadow_models=4 --set audit.seed=5 --json ";
  // Progress goes to stderr, kept for a failure's message; only the JSON on stdout is parsed.
  const auto stderr_file = (dir / "audit_stderr.txt").string();
  const auto strong = testing::run_command("sh -c '" + audit + (dir / "overfit").string() + " 2>" +
                                           stderr_file + "'");
  ASSERT_EQ(strong.exit_code, kExitOk) << strong.output << testing::read_text(stderr_file);
  const auto attacks = nlohmann::json::parse(strong.output);
  EXPECT_GT(attacks["lira_online"]["auroc"].get<double>(), 0.7) << strong.output;
  EXPECT_GT(attacks["lira_offline"]["auroc"].get<double>(), 0.65) << strong.output;
  EXPECT_GT(attacks["rmia_offline"]["auroc"].get<double>(), 0.65) << strong.output;
  const auto weak =
      testing::run_command("sh -c '" + audit + (dir / "dp").string() + " 2>" + stderr_file + "'");
  ASSERT_EQ(weak.exit_code, kExitOk) << weak.output << testing::read_text(stderr_file);
  EXPECT_LT(nlohmann::json::parse(weak.output)["lira_online"]["auroc"].get<double>(), 0.6)
      << weak.output;
  // The report now carries them too, for compare and report.
  const auto report = nlohmann::json::parse(testing::read_text(dir / "overfit" / "report.json"));
  EXPECT_TRUE(report["mia"].contains("lira_online_fixed_variance"));
  EXPECT_EQ(report["mia"]["shadow_setup"]["shadow_models"], 4);

  const auto refused = testing::run_command(std::string(DPFORGE_CLI) +
                                            " audit --set audit.shadow_models=2 --set train.lr=9 " +
                                            (dir / "dp").string());
  EXPECT_EQ(refused.exit_code, kExitBadInput);
  EXPECT_THAT(refused.output, ::testing::HasSubstr("only audit.*"));
}

// Shadows train one per thread at once, each on one intra-op thread, and give the very numbers they
// give one at a time: every shadow's draws come from the auditor's generator before any trains,
// and model initialization holds the global generator's lock (core/random.h).
TEST(ShadowAttacks, ShadowsTrainedTwoAtOnceGiveTheNumbersOfOneAtATime) {
  torch::manual_seed(1);
  const data::Dataset train{torch::randn({300, 12}), torch::randint(3, {300}, torch::kLong), 3};
  const data::Dataset test{torch::randn({400, 12}), torch::randint(3, {400}, torch::kLong), 3};
  config::Recipe recipe;
  recipe.model.arch(nn::Arch::kMlp).mlp_hidden(16);
  recipe.train.epochs(2).batch_size(50).lr(0.1).seed(3);
  recipe.privacy.enabled(true).noise_multiplier(1.0).target_epsilon(0).accountant(
      privacy::AccountantKind::kRdp);
  auto model = nn::make_model(recipe.model, train);
  const int threads_before = at::get_num_threads();
  std::vector<nlohmann::json> attacks;
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);  // 2: two shadows at once
    attacks.push_back(
        run::shadow_membership_attacks(recipe, model, train, test, {}, 4, 77, nullptr));
  }
  at::set_num_threads(threads_before);
  EXPECT_EQ(attacks[0].dump(), attacks[1].dump());
  EXPECT_EQ(attacks[1]["shadow_setup"]["shadow_models"], 4);
}

// Synthetic signals with a known answer: members' φ is N(2, 1) under models trained on them and
// N(0, 1) otherwise.
ShadowSignals gaussian_signals(int64_t targets, int64_t shadows, double shift) {
  torch::manual_seed(11);
  const auto member = torch::arange(targets).lt(targets / 2);  // first half are members
  ShadowSignals s;
  s.shadow_in = torch::rand({shadows, targets}).lt(0.5);
  s.shadow_phi =
      torch::randn({shadows, targets}, torch::kFloat64) + shift * s.shadow_in.to(torch::kFloat64);
  s.target_phi = torch::randn({targets}, torch::kFloat64) + shift * member.to(torch::kFloat64);
  s.target_probability = torch::sigmoid(s.target_phi);
  s.shadow_probability = torch::sigmoid(s.shadow_phi);
  return s;
}

double auroc_of(const std::vector<double>& scores) {
  const size_t half = scores.size() / 2;
  return CanaryAuditor({scores.begin(), scores.begin() + half},
                       {scores.begin() + half, scores.end()})
      .auroc();
}

TEST(ShadowAttacks, LiraFindsASeparationAndInventsNone) {
  // Two unit Gaussians 2 apart: the optimal test's AUROC is Φ(2/√2) = 0.921.
  const auto leaky = gaussian_signals(4000, 16, 2.0);
  EXPECT_NEAR(auroc_of(lira_online_scores(leaky, false)), 0.921, 0.02);
  EXPECT_NEAR(auroc_of(lira_online_scores(leaky, true)), 0.921, 0.02);
  EXPECT_NEAR(auroc_of(lira_offline_scores(leaky, false)), 0.921, 0.02);
  const auto tight = gaussian_signals(4000, 16, 0.0);
  for (bool fixed : {false, true}) {
    EXPECT_NEAR(auroc_of(lira_online_scores(tight, fixed)), 0.5, 0.03);
    EXPECT_NEAR(auroc_of(lira_offline_scores(tight, fixed)), 0.5, 0.03);
  }
  // Two shadows: most targets lack a per-example variance on one side (pooled instead) and a
  // quarter lack a mean on one side (shifted offline estimate); it degrades but still works.
  EXPECT_GT(auroc_of(lira_online_scores(gaussian_signals(4000, 2, 2.0), false)), 0.75);
}

TEST(ShadowAttacks, RmiaComparesLikelihoodRatiosWithThePopulation) {
  const auto leaky = gaussian_signals(4000, 8, 2.0);
  // Population: non-members, so their probabilities follow the OUT distribution everywhere.
  const auto population = torch::sigmoid(torch::randn({1000}, torch::kFloat64));
  const auto population_shadows = torch::sigmoid(torch::randn({8, 1000}, torch::kFloat64));
  const auto scores = rmia_offline_scores(leaky, population, population_shadows);
  EXPECT_GT(auroc_of(scores), 0.85);
  for (double score : scores) EXPECT_TRUE(score >= 0 && score <= 1);
  EXPECT_NEAR(
      auroc_of(rmia_offline_scores(gaussian_signals(4000, 8, 0.0), population, population_shadows)),
      0.5, 0.03);
}

TEST(ShadowAttacks, ConfidenceSignalIsTheLogitScaledTrueClassProbability) {
  torch::nn::Sequential identity{torch::nn::Flatten()};
  const auto logits = torch::tensor({{30.0, 0.0, -1.0}, {0.5, 0.2, 0.1}}, torch::kFloat32);
  const data::Dataset two{logits.view({2, 3, 1, 1}), torch::tensor({0, 2}, torch::kLong), 3};
  const auto signals = confidence_signals(identity, two);
  const auto p = torch::softmax(logits.to(torch::kFloat64), 1);
  const double p1 = p[1][2].item<double>();
  EXPECT_NEAR(signals.phi[1].item<double>(), std::log(p1 / (1 - p1)), 1e-9);
  // p_y ≈ 1 − 1e-13: φ stays finite and exact where log(1 − p) would lose every digit.
  EXPECT_NEAR(signals.phi[0].item<double>(), 30.0 - std::log(1 + std::exp(-1.0)), 1e-9);
}

TEST(ShadowAttacks, ModelWeightsRoundTripAndMismatchesAreNamed) {
  testing::TempDir dir;
  auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(16));
  nn::save_state_dict(*model, dir / "model.pt");
  auto copy = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(16));
  nn::load_state_dict(*copy, dir / "model.pt");
  const auto a = model->parameters(), b = copy->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
  auto other = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(8));
  try {
    nn::load_state_dict(*other, dir / "model.pt");
    FAIL() << "expected a shape error";
  } catch (const InputError& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("has shape"));
  }
}

}  // namespace
}  // namespace dpforge::audit

// The sensitivity check (audit/sensitivity_check.h): silent on correct steps of every layer kind
// and clipping mode, loud on a per-example bug, and invisible to the step it watches.
namespace dpforge::audit {
namespace {

// A Linear layer with the kind of bug a per-example engine can have: its tape record holds each
// example's neighbour's activations (the batch rolled by one), so the clipped sum credits one
// example with another's gradient, while a forward without the tape is right.
class MixedUpLinearImpl : public torch::nn::Cloneable<MixedUpLinearImpl> {
 public:
  MixedUpLinearImpl(int64_t in, int64_t out) : in_(in), out_(out) { reset(); }
  void reset() override {
    weight = register_parameter("weight", torch::randn({out_, in_}) / std::sqrt(in_));
    bias = register_parameter("bias", torch::zeros({out_}));
  }
  torch::Tensor forward(const torch::Tensor& input) {
    auto* tape = is_training() ? dp::active_tape() : nullptr;
    if (tape == nullptr) return torch::nn::functional::linear(input, weight, bias);
    return tape->record({.kind = dp::LayerKind::kLinear,
                         .input = input.detach().roll(1, 0),
                         .weight = weight,
                         .bias = bias},
                        torch::nn::functional::linear(input, weight.detach(), bias.detach()));
  }
  torch::Tensor weight, bias;

 private:
  int64_t in_, out_;
};
TORCH_MODULE(MixedUpLinear);

data::Dataset images(int64_t n, int64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({n, 1, 8, 8}), torch::randint(0, 4, {n}, torch::kLong), 4};
}

// `steps` noiseless-enough DP-SGD steps of `model` on `data` at q = 1/4, watched by `check` (if
// any); returns the parameters after them.
std::vector<torch::Tensor> train_steps(torch::nn::Sequential model, const data::Dataset& data,
                                       const dp::ClipOptions& clip, int steps,
                                       SensitivityCheck* check) {
  dp::DpPlan plan;
  plan.dataset_size = data.size();
  plan.sample_rate = 0.25;
  plan.expected_batch_size = 0.25 * static_cast<double>(data.size());
  plan.clip = clip;
  plan.noise_multiplier = 1.0;
  plan.noise_std = clip.max_grad_norm();
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.5));
  dp::DpSgdState state{data::PoissonSampler(data.size(), plan.sample_rate, 5),
                       dp::NoiseGenerator(6)};
  dp::DpSgdTarget target{model, inner, data, train::cross_entropy_loss(), 16};
  std::vector<dp::StepHook*> hooks;
  if (check != nullptr) hooks.push_back(check);
  for (int t = 0; t < steps; ++t) dp::dp_sgd_step(plan, state, target, hooks);
  std::vector<torch::Tensor> parameters;
  for (const auto& parameter : model->parameters())
    parameters.push_back(parameter.detach().clone());
  return parameters;
}

torch::nn::Sequential layer_model(const std::string& layers, int64_t seed) {
  torch::manual_seed(seed);
  return nn::build_layers(nn::parse_layers(layers), {1, 8, 8}, 4);
}

TEST(SensitivityCheck, CorrectStepsPassForEveryLayerKindAndClippingMode) {
  // Contributions and single-example autograd agree to float32 rounding (automatic clipping
  // magnifies a small gradient's rounding by up to C/γ; docs/auditing.md): 1e-3 C, 10x below the
  // run's tolerance.
  constexpr double kCorrectMismatch = 1e-3;
  const auto data = images(48, 1);
  for (const std::string layers :
       {"conv(4, k=3) tanh maxpool(2) flatten linear(8) tanh linear(out)",
        "conv(4, k=3, p=1) groupnorm(2) relu residual(conv(4, k=3, p=1) elu) avgpool(2) flatten "
        "layernorm linear(out)",
        "flatten dropout(0.3) linear(16) gelu residual(linear(16) tanh) linear(out)"}) {
    for (const auto mode :
         {dp::ClipMode::kFlat, dp::ClipMode::kPerLayer, dp::ClipMode::kAutomatic}) {
      SensitivityCheck check(11, /*step_rate=*/1.0);
      train_steps(layer_model(layers, 2), data, dp::ClipOptions().max_grad_norm(0.1).mode(mode), 3,
                  &check);
      const auto report = check.to_json();
      EXPECT_FALSE(check.flags()) << layers << " " << dp::to_string(mode) << report.dump(1);
      EXPECT_EQ(report["checked_steps"], 3) << layers;
      EXPECT_EQ(report["checked_examples"], 3 * SensitivityCheck::kExamplesPerCheck) << layers;
      EXPECT_LT(report["worst"]["mismatch_over_bound"].get<double>(), kCorrectMismatch)
          << layers << " " << dp::to_string(mode);
      // Clipped at C = 0.1, most examples reach the bound.
      EXPECT_GT(report["max_contribution_over_bound"].get<double>(), 0.99) << layers;
    }
  }
}

TEST(SensitivityCheck, AnExampleCreditedWithAnothersGradientFlagsTheRunNamingTheLayer) {
  const auto data = images(48, 3);
  torch::manual_seed(4);
  torch::nn::Sequential model(torch::nn::Flatten(), nn::Linear(64, 8), torch::nn::Tanh(),
                              MixedUpLinear(8, 4));
  SensitivityCheck check(12, /*step_rate=*/0.0);
  train_steps(model, data, dp::ClipOptions().max_grad_norm(1.0), 2, &check);
  ASSERT_TRUE(check.flags());
  const auto report = check.to_json();
  EXPECT_EQ(report["status"], "violation");
  EXPECT_EQ(report["checked_steps"], 1) << "rate 0: the first step only";
  const auto& found = report["violation"];
  EXPECT_EQ(found["step"], 0);
  EXPECT_EQ(found["worst_layer"], "3") << found.dump(1);
  EXPECT_GT(found["mismatch_over_bound"].get<double>(), kSensitivityMismatchTolerance);
  EXPECT_FALSE(found["scaled_alike"].get<bool>());
}

TEST(SensitivityCheck, LeavesTheStepItWatchesBitForBit) {
  const auto data = images(64, 5);
  const std::string layers = "conv(4, k=3) tanh flatten dropout(0.2) linear(out)";
  const auto clip = dp::ClipOptions().max_grad_norm(0.5);
  torch::manual_seed(21);
  const auto alone = train_steps(layer_model(layers, 7), data, clip, 4, nullptr);
  SensitivityCheck check(13, /*step_rate=*/1.0);
  torch::manual_seed(21);
  const auto watched = train_steps(layer_model(layers, 7), data, clip, 4, &check);
  ASSERT_EQ(alone.size(), watched.size());
  for (size_t k = 0; k < alone.size(); ++k) EXPECT_TRUE(torch::equal(alone[k], watched[k])) << k;
  EXPECT_EQ(check.to_json()["checked_steps"], 4);
}

TEST(SensitivityCheck, AResumedCheckChoosesTheSameStepsAndKeepsItsFindings) {
  const auto data = images(48, 6);
  const std::string layers = "flatten linear(8) tanh linear(out)";
  const auto clip = dp::ClipOptions().max_grad_norm(0.5);
  SensitivityCheck whole(14, /*step_rate=*/0.4);
  train_steps(layer_model(layers, 8), data, clip, 12, &whole);
  const auto all = whole.to_json();
  EXPECT_GT(all["checked_steps"].get<int64_t>(), 1);
  EXPECT_LT(all["checked_steps"].get<int64_t>(), 12);
  // 7 steps, then the check rebuilt from its saved state for 5 more: which steps it checks comes
  // from the seed and the step's index, not from a stream, so it checks as many as in one go.
  SensitivityCheck first(14, 0.4);
  auto model = layer_model(layers, 8);
  train_steps(model, data, clip, 7, &first);
  SensitivityCheck resumed(14, 0.4);
  resumed.restore(first.to_json());
  EXPECT_EQ(resumed.to_json(), first.to_json());
  train_steps(model, data, clip, 5, &resumed);
  EXPECT_EQ(resumed.to_json()["steps_taken"], 12);
  EXPECT_EQ(resumed.to_json()["checked_steps"], all["checked_steps"]);
}

}  // namespace
}  // namespace dpforge::audit
