// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/summary.h"

namespace dpforge::audit {

nlohmann::json summarize(const CanaryAuditor& auditor, double confidence, double delta) {
  const double significance = 1 - confidence;
  return {
      {"confidence", confidence},
      {"delta", delta},
      {"canaries_in", auditor.num_in()},
      {"canaries_out", auditor.num_out()},
      {"thresholds", auditor.num_thresholds()},
      {"correction", "bonferroni over ROC-hull thresholds"},
      {"epsilon_lower_bound",
       {{"one_run_steinke", auditor.epsilon_one_run(significance, delta)},
        {"one_run_fdp", auditor.epsilon_one_run_fdp(significance, delta)},
        {"clopper_pearson", auditor.epsilon_clopper_pearson(significance, delta)},
        {"gdp", auditor.epsilon_from_gdp(significance, delta)}}},
      {"auroc", auditor.auroc()},
      {"tpr_at_fpr", {{"0.001", auditor.tpr_at_fpr(0.001)}, {"0.01", auditor.tpr_at_fpr(0.01)}}},
      {"balanced_accuracy", auditor.balanced_accuracy()},
  };
}

}  // namespace dpforge::audit
