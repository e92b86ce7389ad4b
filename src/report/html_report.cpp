// SPDX-License-Identifier: Apache-2.0
#include "dpforge/report/html_report.h"

#include <fmt/format.h>

#include "dpforge/report/compare.h"
#include "dpforge/report/run_report.h"
#include "dpforge/report/svg_chart.h"

namespace dpforge::report {
namespace {

std::string text_of(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return fmt::format("{:.6g}", value.get<double>());
  return value.dump();
}

// A private run reports the size its mechanism planned with, not the exact count (which differs
// between neighbouring datasets): "~N (DP count)" or "N (public size)".
std::string training_size_text(const nlohmann::json& report) {
  const auto& size = report["privacy"].value("dataset_size", nlohmann::json());
  if (!size.is_object()) return text_of(report["data"]["train_examples"]);
  return planned_size_text(size["value"].get<int64_t>(), size.value("source", "") == "dp_count");
}

std::string table(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string html = "<table>\n";
  for (const auto& [key, value] : rows) {
    html += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html_escape(key), html_escape(value));
  }
  return html + "</table>\n";
}

// {"fpr": [...], "tpr": [...]}, or the [fpr, tpr] pairs of reports of older versions.
std::vector<std::pair<double, double>> roc_of(const nlohmann::json& object) {
  std::vector<std::pair<double, double>> points;
  if (!object.contains("roc")) return points;
  const auto& roc = object["roc"];
  if (roc.is_object()) {
    for (size_t i = 0; i < roc["fpr"].size(); ++i)
      points.emplace_back(roc["fpr"][i].get<double>(), roc["tpr"][i].get<double>());
  } else {
    for (const auto& p : roc) points.emplace_back(p[0].get<double>(), p[1].get<double>());
  }
  return points;
}

std::string verdict(const nlohmann::json& report) {
  const auto& privacy = report["privacy"];
  if (!privacy.value("enabled", false)) {
    return "<p class=\"warn\">Not private: trained without differential privacy. The attacks below "
           "show "
           "how much the model reveals about its training examples.</p>";
  }
  std::string text = fmt::format(
      "<p>Claim: <b>({:.4g}, {:g})-differential privacy</b> for every training example, under "
      "{} adjacency, by the {} accountant (sigma {:.4g}, sampling rate {:.4g}, {} steps).</p>",
      privacy["epsilon"].get<double>(), privacy["delta"].get<double>(),
      privacy.value("adjacency", "add_remove") == "replace_one" ? "replace-one" : "add/remove",
      privacy["accountant"].get<std::string>(), privacy["noise_multiplier"].get<double>(),
      privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>());
  if (privacy.value("fault", std::string("none")) != "none") {
    text += fmt::format(
        "<p class=\"bad\">A fault ({}) was injected for auditor validation: this model is NOT "
        "private.</p>",
        html_escape(privacy["fault"].get<std::string>()));
  }
  const auto& audit = report["audit"];
  if (audit.value("enabled", false)) {
    const bool pass = audit["status"] == "pass";
    // With DP statistics released before training, the canaries test the DP-SGD steps' own ε.
    const std::string tested =
        audit.contains("claim_audited")
            ? fmt::format(
                  "the claim it tests, of the DP-SGD steps alone (the data statistics' "
                  "release before training is in the run's {:.4g}, not in the audit), "
                  "is {:.3f}",
                  privacy["epsilon"].get<double>(), audit["claim_audited"]["epsilon"].get<double>())
            : fmt::format("the claim is {:.3f}", audit["accountant_epsilon"].get<double>());
    text += fmt::format(
        "<p class=\"{}\">Audit: {}. With {:g}% confidence the run's true epsilon is at least "
        "{:.3f} "
        "(white-box one-run audit, {} canaries); {}. {}</p>",
        pass ? "good" : "bad", pass ? "pass" : "VIOLATION", 100 * audit["confidence"].get<double>(),
        audit["epsilon_lower_bound_best"].get<double>(), audit["canaries"].get<int64_t>(), tested,
        pass ? "A lower bound below the claim is consistent with a correct implementation."
             : "The run does not behave like the mechanism it claims: do not release this model.");
  } else {
    text += fmt::format("<p>Audit: not run ({}).</p>",
                        html_escape(audit.value("reason", std::string("disabled"))));
  }
  return text;
}

}  // namespace

std::string html_report(const nlohmann::json& report) {
  const std::string name = report["recipe"].value("name", std::string("run"));
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dpforge report: "
      "{0}</title>\n"
      "<style>body{{font-family:sans-serif;max-width:1180px;margin:2em auto;color:#222}}"
      "table{{border-collapse:collapse;margin:0.5em 0}}th,td{{border:1px solid #ccc;padding:3px "
      "8px;text-align:left;font-size:13px}}"
      "th{{background:#f4f4f4}}.good{{color:#176617}}.bad{{color:#b00;font-weight:bold}}.warn{{"
      "color:#8a5a00}}"
      ".charts{{display:flex;flex-wrap:wrap;gap:12px}}</style></head><body>\n"
      "<h1>dpforge report: {0}</h1>\n",
      html_escape(name));
  html += verdict(report);
  if (report.contains("stopped") && report["stopped"].is_string()) {
    html += fmt::format("<p class=\"warn\">Training stopped early: {}</p>\n",
                        html_escape(report["stopped"].get<std::string>()));
  }

  const auto& privacy = report["privacy"];
  std::vector<std::pair<std::string, std::string>> summary = {
      {"model", fmt::format("{} ({} parameters)", text_of(report["model"]["arch"]),
                            text_of(report["model"]["parameters"]))},
      {"data", fmt::format("{}: {} training, {} test examples", text_of(report["data"]["dataset"]),
                           training_size_text(report), text_of(report["data"]["test_examples"]))},
      {"defense", defense_of(report["recipe"]["values"])},
      {"test metrics", html_escape(test_metrics_text(report))},
      {"steps", text_of(report["steps"])},
      {"wall time", fmt::format("{:.1f} s", report.value("wall_seconds", 0.0))},
      {"reproducible (seeded)", text_of(report["reproducible"])},
  };
  if (privacy.value("enabled", false)) {
    for (const char* key :
         {"epsilon", "delta", "adjacency", "accountant", "noise_multiplier", "sample_rate",
          "max_grad_norm", "clipping", "target_epsilon", "stopped_by_budget", "secure_noise"}) {
      if (privacy.contains(key))
        summary.emplace_back(std::string("privacy.") + key, text_of(privacy[key]));
    }
  }
  html += "<h2>Summary</h2>\n" + table(summary);

  // Charts: accuracy per epoch, ε per step, ROC curves of the attacks.
  Series train{"train (non-private diagnostic)", {}}, test{"test", {}},
      validation{"validation", {}}, epsilon{"epsilon spent", {}};
  for (const auto& epoch : report["epochs"]) {
    const double e = epoch["epoch"].get<double>();
    // A regression run has no accuracy (null): its chart stays empty, its RMSE is in the summary.
    if (epoch["test_accuracy"].is_number()) {
      train.points.emplace_back(e, 100 * epoch["train_accuracy"].get<double>());
      test.points.emplace_back(e, 100 * epoch["test_accuracy"].get<double>());
    }
    if (epoch.contains("validation_accuracy") && epoch["validation_accuracy"].is_number()) {
      validation.points.emplace_back(e, 100 * epoch["validation_accuracy"].get<double>());
    }
    if (epoch.contains("epsilon") && epoch["epsilon"].is_number()) {
      if (epsilon.points.empty()) epsilon.points.emplace_back(0, 0);
      epsilon.points.emplace_back(epoch["steps"].get<double>(), epoch["epsilon"].get<double>());
    }
  }
  std::vector<Series> accuracy = {train, test};
  if (!validation.points.empty()) accuracy.push_back(validation);
  html += "<h2>Charts</h2>\n<div class=\"charts\">\n";
  html += line_chart(
      accuracy, {.title = "Accuracy per epoch", .x_label = "epoch", .y_label = "accuracy (%)"});
  if (!epsilon.points.empty()) {
    Series target{"target epsilon", {}, true};
    if (privacy.contains("target_epsilon") && privacy["target_epsilon"].is_number()) {
      target.points = {{0, privacy["target_epsilon"].get<double>()},
                       {epsilon.points.back().first, privacy["target_epsilon"].get<double>()}};
    }
    std::vector<Series> spent = {epsilon};
    if (!target.points.empty()) spent.push_back(target);
    html += line_chart(
        spent,
        {.title = "Privacy spent", .x_label = "training step", .y_label = "epsilon (accountant)"});
  }
  // Two charts, never one: the black-box attacks see only the released model's outputs, the
  // white-box audit's canaries are the auditor's own gradients inside the private updates.
  const ChartOptions roc_axes{.x_label = "false positive rate",
                              .y_label = "true positive rate",
                              .log_x = true,
                              .log_y = true,
                              .x_lo = 1e-4,
                              .x_hi = 1,
                              .y_lo = 1e-4,
                              .y_hi = 1};
  const Series chance{"chance", {{1e-4, 1e-4}, {1, 1}}, true};
  std::vector<Series> attacks = {chance};
  if (report.contains("mia") && report["mia"].is_object()) {
    for (const auto& attack : attack_names()) {
      if (report["mia"].contains(attack)) {
        attacks.push_back(
            {fmt::format("{} (AUC {:.3f})", attack, report["mia"][attack]["auroc"].get<double>()),
             roc_of(report["mia"][attack])});
      }
    }
    auto options = roc_axes;
    options.title = "Black-box attacks on the released model: ROC (log-log)";
    html += line_chart(attacks, options);
  }
  if (report["audit"].value("enabled", false)) {
    const auto& audit = report["audit"];
    std::vector<Series> canaries = {
        chance,
        {fmt::format("white-box gradient canaries (AUC {:.3f})", audit.value("auroc", 0.0)),
         roc_of(audit)}};
    if (audit.contains("input_canaries")) {
      canaries.push_back({fmt::format("black-box input canaries, separate run (AUC {:.3f})",
                                      audit["input_canaries"].value("auroc", 0.0)),
                          roc_of(audit["input_canaries"])});
    }
    auto options = roc_axes;
    options.title = "Privacy audit's canaries (not an attack on the model): ROC (log-log)";
    html += line_chart(canaries, options);
  }
  html += "</div>\n";

  if (report["audit"].value("enabled", false)) {
    const auto& audit = report["audit"];
    std::vector<std::pair<std::string, std::string>> rows = {{"method", text_of(audit["method"])}};
    for (const auto& [key, value] : audit["epsilon_lower_bound"].items())
      rows.emplace_back("epsilon lower bound: " + key, text_of(value));
    for (const char* key : {"accountant_epsilon", "confidence", "canaries", "auroc", "status"}) {
      if (audit.contains(key)) rows.emplace_back(key, text_of(audit[key]));
    }
    for (const auto& [test, gate] : audit["verdict"]["tests"].items()) {
      for (const auto& [key, value] : gate.items())
        rows.emplace_back("verdict " + test + ": " + key, text_of(value));
    }
    html += "<h2>Audit</h2>\n<p>What the numbers mean: docs/auditing.md.</p>\n" + table(rows);
  }
  if (report.contains("mia") && report["mia"].is_object()) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const auto& attack : attack_names()) {
      if (!report["mia"].contains(attack)) continue;
      const auto& a = report["mia"][attack];
      rows.emplace_back(
          attack,
          fmt::format(
              "AUC {:.4f}, TPR {:.4f} at 0.1% FPR, {:.4f} at 1% FPR, balanced accuracy {:.4f}",
              a["auroc"].get<double>(), a["tpr_at_fpr"]["0.001"].get<double>(),
              a["tpr_at_fpr"]["0.01"].get<double>(), a["balanced_accuracy"].get<double>()));
    }
    html += fmt::format(
        "<h2>Membership inference (black-box)</h2>\n<p>{} training examples (members) against {} "
        "test "
        "examples; attack metrics, not a DP bound.</p>\n",
        text_of(report["mia"]["members"]), text_of(report["mia"]["non_members"]));
    if (report["mia"].contains("shadow_setup")) {
      const auto& setup = report["mia"]["shadow_setup"];
      html += fmt::format(
          "<p>LiRA and RMIA: {} shadow models trained by the same recipe; {} members against {} "
          "non-members drawn by the auditor, {} population examples.</p>\n",
          text_of(setup["shadow_models"]), text_of(setup["members"]), text_of(setup["non_members"]),
          text_of(setup["population"]));
    }
    html += table(rows);
  }
  std::vector<std::pair<std::string, std::string>> recipe;
  for (const auto& [key, value] : report["recipe"]["values"].items())
    recipe.emplace_back(key, text_of(value));
  html +=
      fmt::format("<h2>Recipe</h2>\n<p>{}</p>\n", html_escape(text_of(report["recipe"]["path"]))) +
      table(recipe);
  html += fmt::format("<p>dpforge {}, LibTorch {}.</p>\n</body></html>\n",
                      html_escape(text_of(report["versions"]["dpforge"])),
                      html_escape(text_of(report["versions"]["libtorch"])));
  return html;
}

}  // namespace dpforge::report
