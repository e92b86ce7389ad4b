// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/summary.h"

#include <algorithm>

namespace dpforge::audit {

nlohmann::json summarize(const CanaryAuditor& auditor, double confidence, double delta,
                         bool multi_run) {
  const double significance = 1 - confidence;
  // The f-DP test's analysis holds for fair-coin canaries only: null (not a number) otherwise.
  nlohmann::json bounds = {
      {"one_run_steinke", auditor.epsilon_one_run(significance, delta)},
      {"one_run_fdp", auditor.fair_coin()
                          ? nlohmann::json(auditor.epsilon_one_run_fdp(significance, delta))
                          : nlohmann::json()}};
  if (multi_run) {
    bounds["clopper_pearson"] = auditor.epsilon_clopper_pearson(significance, delta);
    bounds["gdp"] = auditor.epsilon_from_gdp(significance, delta);
  }
  nlohmann::json summary = {
      {"confidence", confidence},
      {"delta", delta},
      {"canaries_in", auditor.num_in()},
      {"canaries_out", auditor.num_out()},
      {"member_prior", auditor.member_prior()},
      {"guess_counts", auditor.guess_counts()},
      {"correction",
       multi_run ? "bonferroni over the fixed family: top-k and bottom-k guesses, k in guess_counts"
                 : "bonferroni over the fixed family: top-k guesses, k in guess_counts"},
      {"multi_run", multi_run},
      {"epsilon_lower_bound", bounds},
      {"auroc", auditor.auroc()},
      {"balanced_accuracy", auditor.balanced_accuracy()},
  };
  summary.update(tpr_at_fpr_json(auditor));
  return summary;
}

nlohmann::json tpr_at_fpr_json(const CanaryAuditor& auditor) {
  nlohmann::json json;
  for (const auto& [key, fpr] : {std::pair{"0.001", 0.001}, std::pair{"0.01", 0.01}}) {
    json["tpr_at_fpr"][key] = auditor.tpr_at_fpr(fpr);
    // The tolerance keeps 10,000 × 0.001 at exactly the threshold whatever the rounding of 0.001.
    json["tpr_at_fpr_resolved"][key] =
        static_cast<double>(auditor.num_out()) * fpr >= kResolvableFalsePositives - 1e-9;
  }
  return json;
}

nlohmann::json roc_json(const CanaryAuditor& auditor) {
  nlohmann::json roc = {{"fpr", nlohmann::json::array()}, {"tpr", nlohmann::json::array()}};
  for (const auto& [fpr, tpr] : auditor.roc_points()) {
    roc["fpr"].push_back(fpr);
    roc["tpr"].push_back(tpr);
  }
  return roc;
}

nlohmann::json attack_metrics(const CanaryAuditor& auditor) {
  auto metrics = tpr_at_fpr_json(auditor);
  metrics["auroc"] = auditor.auroc();
  metrics["balanced_accuracy"] = auditor.balanced_accuracy();
  metrics["roc"] = roc_json(auditor);
  return metrics;
}

double best_one_run_bound(const nlohmann::json& summary) {
  const auto& bounds = summary.at("epsilon_lower_bound");
  const auto& fdp = bounds.at("one_run_fdp");
  return std::max(bounds.at("one_run_steinke").get<double>(),
                  fdp.is_null() ? 0.0 : fdp.get<double>());
}

}  // namespace dpforge::audit
