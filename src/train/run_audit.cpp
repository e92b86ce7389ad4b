// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/run_audit.h"

#include <string>

#include "dpforge/train/dp_plan.h"

namespace dpforge::train {
namespace {

// What the canaries tested when it is not the run's own ε: the steps' ε under add/remove
// adjacency, without the releases made before training.
std::string audited_scope(const dp::DpPlan& plan, double run_epsilon) {
  if (plan.adjacency == privacy::Adjacency::kReplaceOne) {
    return fmt::format(
        "the DP-SGD steps' epsilon under add/remove adjacency (a canary is in the training set "
        "or not); the run's replace-one epsilon, {:.4g}, is larger: a stricter test of the same "
        "mechanism",
        run_epsilon);
  }
  return "the DP-SGD steps alone; the run's epsilon also covers the Gaussian release of data "
         "statistics before training" +
         std::string(plan.preprocessing_delta > 0
                         ? " (and the DP vocabularies' thresholds, whose delta is within the run's)"
                         : "") +
         ", which the canaries do not observe";
}

}  // namespace

audit::WhiteBoxAudit audit_private_run(const audit::DiracCanaries& canaries,
                                       const PrivacySummary& privacy,
                                       const RunAuditOptions& options) {
  const auto& plan = privacy.plan;
  const auto claim =
      steps_claim(plan, *privacy::Accountant::from_json(privacy.accountant_state), privacy.epsilon);
  const auto gate = audit::gate_point(plan.delta, canaries.count(), options.gate_significance(),
                                      *claim.accountant);
  auto white_box =
      audit::audit_white_box(canaries, {claim.epsilon, plan.delta, plan.dp_event(privacy.steps),
                                        claim.accountant->history(), options.confidence(),
                                        options.inline_run(), options.gate_significance(), gate});
  if (!claim.is_run_claim) {
    white_box.summary["claim_audited"] = {{"epsilon", claim.epsilon},
                                          {"delta", plan.delta},
                                          {"scope", audited_scope(plan, privacy.epsilon)}};
  }
  return white_box;
}

}  // namespace dpforge::train
