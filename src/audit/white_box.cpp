// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/white_box.h"

#include <algorithm>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/summary.h"
#include "dpforge/privacy/log_math.h"

namespace dpforge::audit {
namespace {

// Conformance z-tests at a fixed 1e-6 significance each: a faithful run is flagged once in
// ~10⁶ audits, while missing noise or over-sampling gives |z| in the tens or hundreds.
constexpr double kConformanceSignificance = 1e-6;

}  // namespace

WhiteBoxAudit audit_white_box(const DiracCanaries& canaries, const WhiteBoxClaim& claim) {
  const CanaryAuditor auditor(canaries.member_scores(), canaries.non_member_scores());
  auto summary = summarize(auditor, claim.confidence, claim.delta);
  const auto& bounds = summary["epsilon_lower_bound"];
  const double lower =
      std::max(bounds["one_run_steinke"].get<double>(), bounds["one_run_fdp"].get<double>());
  summary["enabled"] = true;
  summary["method"] = "white-box one-run audit: Dirac canaries on auditor-owned coordinates";
  summary["inline"] = claim.inline_run;
  summary["accuracy_cost"] = claim.inline_run
                                 ? "none: canaries touch only coordinates the model never reads"
                                 : "none: a separate training run carried the canaries";
  summary["canaries"] = canaries.count();
  summary["canary_pre_clip_norm"] = canaries.pre_clip_norm();
  summary["accountant_epsilon"] = claim.epsilon;
  summary["epsilon_lower_bound_best"] = lower;
  const auto conformance = canaries.conformance();
  const double critical_z = -privacy::normal_quantile(kConformanceSignificance);
  const bool noise_ok = conformance.noise_z > -critical_z;
  const bool sampling_ok = conformance.member_z < critical_z;
  summary["conformance"] = {{"significance", kConformanceSignificance},
                            {"noise_std_measured_over_claimed", conformance.noise_std_ratio},
                            {"noise_z", conformance.noise_z},
                            {"noise_samples", conformance.noise_samples},
                            {"noise_ok", noise_ok},
                            {"member_update_mean", conformance.member_mean},
                            {"claimed_sample_rate", claim.sample_rate},
                            {"sampling_and_clipping_z", conformance.member_z},
                            {"sampling_and_clipping_ok", sampling_ok}};
  summary["roc"] = auditor.roc_points();
  summary["status"] = lower > claim.epsilon || !noise_ok || !sampling_ok ? "violation" : "pass";
  summary["audits"] =
      "sampling, clipping of whole-example gradients, noise, the divisor and the accountant; not "
      "the per-layer "
      "norm code (audit.input_canaries covers it)";
  return {std::move(summary), auditor.roc_csv()};
}

}  // namespace dpforge::audit
