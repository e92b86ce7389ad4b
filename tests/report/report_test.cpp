// SPDX-License-Identifier: Apache-2.0
// Comparing runs: sweeps (grid × variants), the compare table, the HTML report, and the defenses
// they compare (label smoothing, dropout, early stopping).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dpforge/core/error.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/validate.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/html_report.h"
#include "dpforge/report/row_order.h"
#include "dpforge/report/run_report.h"
#include "dpforge/run/sweep.h"
#include "dpforge/train/steps.h"
#include "dpforge/train/trainer.h"
#include "test_util.h"

namespace dpforge {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kCli;
using testing::kRecipes;
using ::testing::Not;
using testing::read_text;
using testing::run_command;
using testing::TempDir;

TEST(Sweep, PointsAreVariantsCrossedWithTheGrid) {
  const auto points =
      run::sweep_points({"base:", "dp: privacy.enabled=true privacy.target_epsilon=2"},
                        {"train.lr=0.1,0.2", "model.arch=mlp"});
  std::vector<std::string> names;
  for (const auto& p : points) names.push_back(p.name);
  EXPECT_THAT(names, ElementsAre("base,lr=0.1,arch=mlp", "base,lr=0.2,arch=mlp",
                                 "dp,lr=0.1,arch=mlp", "dp,lr=0.2,arch=mlp"));
  EXPECT_THAT(points[3].overrides, ElementsAre("privacy.enabled=true", "privacy.target_epsilon=2",
                                               "train.lr=0.2", "model.arch=mlp"));
  EXPECT_EQ(run::sweep_points({}, {"privacy.target_epsilon=1,8"})[1].name, "target_epsilon=8");
  EXPECT_THAT(run::split_sweep_list(" a: x=1 | b: | ", '|'), ElementsAre("a: x=1", "b:"));
}

TEST(Sweep, MalformedGridsAndVariantsAreRefusedByName) {
  EXPECT_THAT(testing::error_of([] { run::sweep_points({}, {"train.lr"}); }),
              HasSubstr("expected key=value1,value2"));
  EXPECT_THAT(testing::error_of([] { run::sweep_points({}, {"train.lr=0.1,,0.2"}); }),
              HasSubstr("empty value"));
  EXPECT_THAT(testing::error_of([] {
                run::sweep_points({}, {"train.lr=1", "train.lr=2"});
              }),
              HasSubstr("twice"));
  EXPECT_THAT(testing::error_of([] { run::sweep_points({"noname"}, {}); }),
              HasSubstr("name: key=value"));
  EXPECT_THAT(testing::error_of([] { run::sweep_points({"a: lr"}, {}); }),
              HasSubstr("'lr' is not key=value"));
  EXPECT_THAT(testing::error_of([] { run::sweep_points({}, {}); }), HasSubstr("nothing to sweep"));
  EXPECT_THAT(testing::error_of([] {
                run::sweep_points({"a b: train.lr=0.1", "a_b: train.lr=0.2"}, {});
              }),
              HasSubstr("two points share the folder 'a_b'"));
  EXPECT_THAT(testing::error_of([] { run::sweep_points({}, {"data.root=/d/x,/d_x"}); }),
              HasSubstr("share the folder"));
}

TEST(Compare, DefenseIsReadFromTheResolvedRecipe) {
  nlohmann::json values = {{"privacy.enabled", "false"},
                           {"train.weight_decay", "0"},
                           {"model.dropout", "0"},
                           {"train.label_smoothing", "0"},
                           {"train.early_stopping_patience", "0"}};
  EXPECT_EQ(report::defense_of(values), "none");
  values["model.dropout"] = "0.3";
  values["train.label_smoothing"] = "0.1";
  EXPECT_EQ(report::defense_of(values), "dropout + label smoothing");
  values["privacy.enabled"] = "true";
  EXPECT_EQ(report::defense_of(values), "DP + dropout + label smoothing");
  // Reports now store typed values; those of older versions hold text: both read alike.
  const nlohmann::json typed = {{"privacy.enabled", true},
                                {"train.weight_decay", 0.0005},
                                {"model.dropout", 0},
                                {"train.label_smoothing", 0.0},
                                {"train.early_stopping_patience", 3}};
  EXPECT_EQ(report::defense_of(typed), "DP + weight decay + early stopping");
  EXPECT_EQ(report::recipe_value_text(nlohmann::json(0.0005)), "0.0005");
  EXPECT_EQ(report::recipe_value_text(nlohmann::json(nullptr)), "");
  EXPECT_EQ(report::recipe_value_text(nlohmann::json(18446744073709551615ULL)),
            "18446744073709551615");
}

// The table shows the metrics that fit the rows' task: on a binary task whose majority class is
// 87.6%, accuracy alone reads the same for every model; AUROC and the baseline tell them apart.
// Regression shows RMSE, MAE and R², never an accuracy.
TEST(Compare, TheTableShowsTheMetricsThatFitTheTask) {
  report::RunRow churn{.name = "dp", .task = "binary", .test_accuracy = 0.876};
  churn.test_baseline = 0.876;
  churn.test_auroc = 0.7081;
  churn.test_auprc = 0.3312;
  churn.test_log_loss = 0.3391;
  const auto binary = report::format_table({churn});
  for (const char* shown : {"AUROC", "AUPRC", "log-loss", "baseline", "0.7081", "87.60%"})
    EXPECT_THAT(binary, HasSubstr(shown));
  EXPECT_THAT(binary, Not(HasSubstr("macro-F1")));
  EXPECT_THAT(binary, Not(HasSubstr("RMSE")));

  report::RunRow diabetes{.name = "reg", .task = "regression"};
  diabetes.test_rmse = 55.25;
  diabetes.test_mae = 44.5;
  diabetes.test_r2 = 0.4212;
  const auto regression = report::format_table({diabetes});
  for (const char* shown : {"RMSE", "MAE", "R2", "55.25", "0.4212"})
    EXPECT_THAT(regression, HasSubstr(shown));
  EXPECT_THAT(regression, Not(HasSubstr("test acc")));

  // Rows of two tasks: each task's metrics once, "-" where a row has none.
  report::RunRow digits{.name = "digits", .task = "multiclass", .test_accuracy = 0.9};
  digits.test_macro_f1 = 0.8912;
  const auto mixed = report::format_table({churn, digits});
  EXPECT_THAT(mixed, HasSubstr("macro-F1"));
  EXPECT_THAT(mixed, HasSubstr("0.8912"));
  EXPECT_EQ(mixed.find("test acc"), mixed.rfind("test acc"));
  // A regression row beside a binary one: no accuracy, not 0.00%.
  EXPECT_THAT(report::format_table({churn, diabetes}), Not(HasSubstr("0.00%")));
  const auto json = report::rows_to_json({churn});
  EXPECT_EQ(json[0]["test_auroc"], 0.7081);
  EXPECT_EQ(json[0]["task"], "binary");
}

std::vector<std::string> names_of(const std::vector<report::RunRow>& rows) {
  std::vector<std::string> names;
  for (const auto& row : rows) names.push_back(row.name);
  return names;
}

// --sort metric ranks by what the task is read by: a churn table's runs all read 87.60% accuracy
// (the majority class), so they are ranked by AUROC; regression by RMSE, lowest first. Rows
// without the key keep their order, after the rest.
TEST(Compare, RowsSortByTheTasksMetricEpsilonOrAttack) {
  auto binary = [](const char* name, std::optional<double> auroc, std::optional<double> epsilon) {
    report::RunRow row{.name = name, .task = "binary", .test_accuracy = 0.876};
    row.test_auroc = auroc;
    row.is_private = epsilon.has_value();
    row.epsilon = epsilon;
    return row;
  };
  const std::vector<report::RunRow> given{
      binary("eps1", 0.70, 1.0), binary("old", std::nullopt, 3.0),
      binary("none", 0.80, std::nullopt), binary("eps8", 0.76, 8.0)};
  auto rows = given;
  report::sort_rows(rows, report::RowOrder::kMetric);
  EXPECT_THAT(names_of(rows), ElementsAre("none", "eps8", "eps1", "old"));
  rows = given;
  report::sort_rows(rows, report::RowOrder::kEpsilon);
  EXPECT_THAT(names_of(rows), ElementsAre("eps1", "old", "eps8", "none"));
  rows = given;
  rows[0].attack_auc = 0.51;
  rows[2].attack_auc = 0.64;
  rows[3].attack_auc = 0.50;
  report::sort_rows(rows, report::RowOrder::kAttack);
  EXPECT_THAT(names_of(rows), ElementsAre("eps8", "eps1", "none", "old"));
  rows = given;
  report::sort_rows(rows, report::RowOrder::kGiven);
  EXPECT_THAT(names_of(rows), ElementsAre("eps1", "old", "none", "eps8"));

  report::RunRow low{.name = "low", .task = "regression"},
      high{.name = "high", .task = "regression"};
  low.test_rmse = 55.0;
  high.test_rmse = 61.0;
  rows = {high, low};
  report::sort_rows(rows, report::RowOrder::kMetric);
  EXPECT_THAT(names_of(rows), ElementsAre("low", "high"));
  EXPECT_EQ(report::metric_order_description(low), "RMSE, lower first");
  rows = {high, binary("churn", 0.7, 1.0)};
  EXPECT_THAT(testing::error_of([&] { report::sort_rows(rows, report::RowOrder::kMetric); }),
              HasSubstr("different tasks (binary, regression)"));
  EXPECT_THAT(testing::error_of([] { report::parse_row_order("auroc", "--sort"); }),
              HasSubstr("--sort = 'auroc': expected one of given, metric, epsilon, attack"));
}

TEST(Report, PldPrivacyHasNoRdpOrder) {
  train::PrivacySummary privacy;
  privacy.plan.accountant = privacy::AccountantKind::kPld;
  privacy.rdp_order = 8;  // whatever is left there, PLD has no order to report
  EXPECT_TRUE(report::privacy_json(privacy)["rdp_order"].is_null());
  privacy.plan.accountant = privacy::AccountantKind::kRdp;
  privacy.rdp_order = 12;
  EXPECT_EQ(report::privacy_json(privacy)["rdp_order"], 12);
}

TEST(Compare, ATruncatedOrForeignReportIsRefusedNamingTheFolder) {
  TempDir dir;
  EXPECT_THAT(testing::error_of([&] { report::read_run(dir.path()); }),
              HasSubstr("no report.json"));
  testing::write_text(dir / "report.json", "{\"recipe\": ");
  EXPECT_THAT(testing::error_of([&] { report::read_run(dir.path()); }),
              HasSubstr("not valid JSON"));
  testing::write_text(dir / "report.json", "{\"hello\": 1}");
  EXPECT_THAT(testing::error_of([&] { report::read_run(dir.path()); }),
              HasSubstr("not a dpforge report"));
}

TEST(Defenses, LabelSmoothingIsTheMixtureOfCrossEntropyAndUniformLoss) {
  torch::manual_seed(3);
  auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(8));
  const auto images = torch::rand({5, 1, 28, 28});
  const auto labels = torch::tensor({0, 3, 9, 1, 1}, torch::kLong);
  const double smoothing = 0.2;
  const auto stats =
      train::backward_nonprivate(model, images, labels, 1.0, train::cross_entropy_loss(smoothing));
  const auto log_p = torch::log_softmax(model->forward(images), 1).to(torch::kFloat64);
  const double nll = -log_p.gather(1, labels.unsqueeze(1)).sum().item<double>();
  const double uniform = -log_p.mean(1).sum().item<double>();
  EXPECT_NEAR(stats.loss_sum, (1 - smoothing) * nll + smoothing * uniform, 1e-4);
}

TEST(Defenses, DropoutModelsPassDpValidationAndAreDeterministicInEval) {
  auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kCnnTanh).dropout(0.5));
  EXPECT_NO_THROW(nn::validate_model(*model));
  bool has_dropout = false;
  for (const auto& module : model->modules())
    has_dropout |= module->name().find("Dropout") != std::string::npos;
  EXPECT_TRUE(has_dropout);
  model->eval();
  const auto images = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(torch::equal(model->forward(images), model->forward(images)));
}

TEST(Defenses, EarlyStoppingWaitsPatienceEpochsAfterTheBest) {
  std::vector<train::EpochMetrics> epochs(4);
  const double accuracy[] = {0.5, 0.7, 0.69, 0.7};
  for (int i = 0; i < 4; ++i) {
    epochs[i].epoch = i + 1;
    epochs[i].validation_accuracy = accuracy[i];
  }
  EXPECT_EQ(train::early_stop_reason(epochs, 3), "");  // best at epoch 2, two epochs since
  EXPECT_THAT(train::early_stop_reason(epochs, 2),
              AllOf(HasSubstr("epoch 4"), HasSubstr("best 70.00% at epoch 2")));
  EXPECT_EQ(train::early_stop_reason(epochs, 0), "");
}

// The CI-sized form of recipes/validate_defenses.ini: every defense and DP at three epsilons on a
// small subset, then compare, the HTML report, and a resumed sweep that skips finished runs.
TEST(Sweep, ValidateDefensesRunsEndToEndAndResumesBySkipping) {
  TempDir dir;
  const std::string shrink =
      " --set data.train_subset=600 --set data.test_subset=300 --set train.epochs=1 --set "
      "audit.canaries=200"
      " --set data.validation_size=100 --set train.batch_size=100 --set run.threads=2";
  const auto out = (dir / "defenses").string();
  const auto sweep =
      run_command(kCli + " sweep " + kRecipes + "validate_defenses.ini" + shrink + " --out " + out);
  ASSERT_EQ(sweep.exit_code, kExitOk) << sweep.output;
  EXPECT_THAT(sweep.output,
              AllOf(HasSubstr("weight decay"), HasSubstr("label smoothing"),
                    HasSubstr("early stopping"), HasSubstr("dropout"), HasSubstr("8 runs")));
  const auto summary = nlohmann::json::parse(read_text(dir / "defenses" / "summary.json"));
  ASSERT_EQ(summary["runs"].size(), 8U);
  for (const auto& run : summary["runs"]) {
    EXPECT_EQ(run["private"].get<bool>(), run["defense"] == "DP") << run["name"];
    if (run["private"].get<bool>()) {
      EXPECT_EQ(run["audit_status"], "pass") << run["name"];
    }
    EXPECT_TRUE(run["attack_auc"].is_number()) << run["name"];
  }

  const auto again = run_command(kCli + " sweep " + kRecipes + "validate_defenses.ini" + shrink +
                                 " --sort metric --out " + out);
  EXPECT_EQ(again.exit_code, kExitOk);
  EXPECT_THAT(again.output, AllOf(HasSubstr("finished earlier with the same recipe, skipped"),
                                  Not(HasSubstr("DP-SGD: q")),
                                  HasSubstr("sweep: rows by accuracy, higher first")));

  const auto csv = run_command(kCli + " compare --csv " + out + "/none " + out + "/dp_eps1");
  EXPECT_EQ(csv.exit_code, kExitOk);
  EXPECT_THAT(csv.output,
              AllOf(HasSubstr("dir,name,defense"), HasSubstr("\"dp_eps1\",\"DP\",true,0.99")));
  // The sweep's runs ranked by their task's metric (multi-class: accuracy), best first.
  const auto ranked = run_command(kCli + " compare --sort metric --csv " + out);
  ASSERT_EQ(ranked.exit_code, kExitOk) << ranked.output;
  EXPECT_THAT(ranked.output, HasSubstr("compare: rows by accuracy, higher first"));
  std::vector<double> accuracies;  // the CSV's tenth field, in the rows' order
  std::istringstream lines(ranked.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '"') continue;  // the stderr line and the header
    size_t field = 0;
    for (int comma = 0; comma < 9; ++comma) field = line.find(',', field) + 1;
    accuracies.push_back(std::stod(line.substr(field)));
  }
  EXPECT_EQ(accuracies.size(), 8U) << ranked.output;
  EXPECT_TRUE(std::is_sorted(accuracies.rbegin(), accuracies.rend())) << ranked.output;
  const auto refused = run_command(kCli + " compare --sort auroc " + out);
  EXPECT_EQ(refused.exit_code, kExitBadInput);
  EXPECT_THAT(refused.output, HasSubstr("expected one of given, metric, epsilon, attack"));
  const auto json = run_command(kCli + " compare --json " + out + "/dp_eps8");
  EXPECT_EQ(nlohmann::json::parse(json.output)[0]["noise_multiplier"].is_number(), true);

  const auto html = run_command(kCli + " report " + out + "/dp_eps3");
  ASSERT_EQ(html.exit_code, kExitOk) << html.output;
  const std::string page = read_text(dir / "defenses" / "dp_eps3" / "report.html");
  EXPECT_THAT(
      page,
      AllOf(HasSubstr("<!DOCTYPE html>"), HasSubstr("differential privacy"), HasSubstr("<svg"),
            HasSubstr("Privacy spent"), HasSubstr("Black-box attacks on the released model: ROC"),
            HasSubstr("canaries (not an attack on the model): ROC"),
            HasSubstr("white-box gradient canaries (AUC"), Not(HasSubstr("<script"))));
  EXPECT_EQ(run_command(kCli + " compare " + out + "/nothing").exit_code, kExitBadInput);
}

TEST(Report, HtmlEscapesTextFromTheRecipe) {
  nlohmann::json report = {
      {"recipe",
       {{"name", "<b>x</b>"}, {"path", "a&b.ini"}, {"values", {{"run.name", "<script>"}}}}},
      {"privacy", {{"enabled", false}}},
      {"audit", {{"enabled", false}, {"reason", "non-private"}}},
      {"model", {{"arch", "mlp"}, {"parameters", 1}}},
      {"data", {{"dataset", "fashion-mnist"}, {"train_examples", 1}, {"test_examples", 1}}},
      {"epochs", nlohmann::json::array()},
      {"steps", 0},
      {"reproducible", true},
      {"versions", {{"dpforge", "t"}, {"libtorch", "t"}}}};
  const auto page = report::html_report(report);
  EXPECT_THAT(page, AllOf(HasSubstr("&lt;b&gt;x&lt;/b&gt;"), HasSubstr("a&amp;b.ini"),
                          Not(HasSubstr("<script>")), HasSubstr("Not private")));
}

}  // namespace
}  // namespace dpforge
