// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/white_box.h"

#include <algorithm>
#include <cmath>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/summary.h"
#include "dpforge/privacy/log_math.h"

namespace dpforge::audit {

ProfilePoint gate_point(double delta, int64_t canaries, double significance,
                        const privacy::Accountant& accountant) {
  const double gate_delta =
      std::min(delta, significance / (100.0 * static_cast<double>(std::max<int64_t>(1, canaries))));
  return {accountant.epsilon(gate_delta), gate_delta};
}

namespace {

nlohmann::json bound_gate(double lower_bound, double significance, const ProfilePoint& gate) {
  return {{"significance", significance},
          {"delta", gate.delta},
          {"claimed_epsilon", gate.epsilon},
          {"epsilon_lower_bound", lower_bound},
          {"flags", lower_bound > gate.epsilon}};
}

}  // namespace

nlohmann::json one_run_gates(const CanaryAuditor& auditor, double significance,
                             const ProfilePoint& gate) {
  const double s = significance;
  return {{"one_run_steinke", bound_gate(auditor.epsilon_one_run(s, gate.delta), s, gate)},
          {"one_run_fdp", bound_gate(auditor.epsilon_one_run_fdp(s, gate.delta), s, gate)}};
}

// The conformance z-tests (normal approximations of sums of T·m terms) at `significance`,
// two-sided: less noise, or a canary contributing more than one clipped example, makes a run less
// private than claimed; more noise, or a canary contributing less (the step's sum clipped once
// instead of each example: z = -15 in issue 43, while the real examples then have sensitivity 2C),
// is not the claimed mechanism either, and a run that is not what it claims is not audited by its
// claim.
nlohmann::json conformance_gates(const DiracCanaries::Conformance& c, double sample_rate,
                                 double significance) {
  const double critical_z = -privacy::normal_quantile(significance / 2);
  return {{"noise",
           {{"significance", significance},
            {"noise_std_measured_over_claimed", c.noise_std_ratio},
            {"z", c.noise_z},
            {"samples", c.noise_samples},
            {"two_sided", true},
            {"flags", std::abs(c.noise_z) > critical_z}}},
          {"sampling_and_clipping",
           {{"significance", significance},
            {"member_update_mean", c.member_mean},
            {"claimed_sample_rate", sample_rate},
            {"z", c.member_z},
            {"two_sided", true},
            {"flags", std::abs(c.member_z) > critical_z}}}};
}

nlohmann::json accountant_gate(const privacy::SgmSteps& mechanism,
                               const std::vector<privacy::SgmSteps>& composed) {
  int64_t steps = 0;
  bool same = true;
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& entry : composed) {
    steps += entry.count;
    same = same && entry.noise_multiplier == mechanism.noise_multiplier &&
           entry.sample_rate == mechanism.sample_rate;
    entries.push_back({{"noise_multiplier", entry.noise_multiplier},
                       {"sample_rate", entry.sample_rate},
                       {"count", entry.count}});
  }
  return {{"mechanism",
           {{"noise_multiplier", mechanism.noise_multiplier},
            {"sample_rate", mechanism.sample_rate},
            {"count", mechanism.count}}},
          {"composed", entries},
          {"flags", !same || steps != mechanism.count}};
}

bool any_flags(const nlohmann::json& tests) {
  for (const auto& [name, test] : tests.items()) {
    if (test.at("flags").get<bool>()) return true;
  }
  return false;
}

WhiteBoxAudit audit_white_box(const DiracCanaries& canaries, const WhiteBoxClaim& claim) {
  const CanaryAuditor auditor(canaries.member_scores(), canaries.non_member_scores());
  auto summary = summarize(auditor, claim.confidence, claim.delta);
  summary["enabled"] = true;
  summary["method"] = "white-box one-run audit: Dirac canaries on auditor-owned coordinates";
  summary["inline"] = claim.inline_run;
  summary["accuracy_cost"] = claim.inline_run
                                 ? "none: canaries touch only coordinates the model never reads"
                                 : "none: a separate training run carried the canaries";
  summary["canaries"] = canaries.count();
  summary["canary_pre_clip_norm"] = canaries.pre_clip_norm();
  summary["accountant_epsilon"] = claim.epsilon;
  summary["epsilon_lower_bound_best"] = best_one_run_bound(summary);
  const double s = claim.gate_significance;
  nlohmann::json gates = one_run_gates(auditor, s, claim.gate);
  gates.update(conformance_gates(canaries.conformance(), claim.mechanism.sample_rate, s));
  gates["accountant"] = accountant_gate(claim.mechanism, claim.composed);
  const bool flagged = any_flags(gates);
  summary["verdict"] = {{"family_wise_level", kVerdictLevel}, {"tests", gates}};
  summary["roc"] = roc_json(auditor);
  summary["status"] = flagged ? "violation" : "pass";
  summary["audits"] =
      "sampling, clipping of whole-example gradients, noise, the divisor and the accountant; not "
      "the per-layer norm code (audit.input_canaries covers it)";
  return {std::move(summary), auditor.roc_csv()};
}

}  // namespace dpforge::audit
