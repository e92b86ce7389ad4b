// SPDX-License-Identifier: Apache-2.0
// The white-box audit's verdict on a private run: lower bounds on ε from the Dirac canaries'
// scores next to the accountant's ε, and the conformance tests of the observed updates against the
// claimed mechanism.
//
// The verdict is a family of tests run at one family-wise level: each test that can flag a run
// (the two one-run bounds exceeding the claim, the two conformance tests, and the input-canary
// audit's two bounds when there is one) runs at kVerdictLevel / (number of such tests), so a
// faithful run is flagged with probability at most kVerdictLevel (Bonferroni). The 95% bounds are
// reported beside, as information. docs/auditing.md gives the level and the measured rate.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::audit {

/// The family-wise false-alarm level of the verdict.
inline constexpr double kVerdictLevel = 1e-3;

/// The significance of each of `tests` gate tests.
inline double per_test_significance(int tests) { return kVerdictLevel / tests; }

/// A point (ε', δ') of the claimed privacy profile.
struct ProfilePoint {
  double epsilon = 0;
  double delta = 0;
};

/// The point of the claimed profile the one-run gate tests test. Steinke et al.'s p-value carries
/// a slack of up to 2·m·δ (and the (ε, δ) trade-off curve a floor of δ): at the claim's own δ =
/// 1e-5 with m = 1000 canaries that slack, 0.02, is a hundred times a gate test's significance s,
/// so no scores whatever could flag the run. The accountant claims a whole profile ε(δ), and every
/// point of it must hold: the gates test δ' = min(δ, s / (100·m)), ε' = the accountant's ε(δ'),
/// where the slack is at most s/50. The point depends on m, s and the claim only, never on the
/// scores. `accountant` holds every step taken.
ProfilePoint gate_point(double delta, int64_t canaries, double significance,
                        const privacy::Accountant& accountant);

/// What the run claims and the audit tests.
struct WhiteBoxClaim {
  double epsilon = 0;  // the accountant's ε over every step taken
  double delta = 0;
  /// The mechanism the canaries were tested against: (σ, q) of the plan and the steps taken.
  privacy::SgmSteps mechanism;
  /// What the accountant composed (Accountant::history()).
  std::vector<privacy::SgmSteps> composed;
  double confidence = 0.95;  // of the reported (informational) bounds
  bool inline_run = true;    // canaries rode along in the released run (else a second run)
  /// Significance of each gate test (gate_significance of all the tests that can flag the run).
  double gate_significance = per_test_significance(4);
  /// Where the one-run gate tests test the claim (gate_point).
  ProfilePoint gate;
};

struct WhiteBoxAudit {
  nlohmann::json summary;  // report.json's `audit` object; summary["status"] is the verdict
  std::string roc_csv;     // threshold,fpr,tpr rows (DIR/audit_roc.csv)
};

WhiteBoxAudit audit_white_box(const DiracCanaries& canaries, const WhiteBoxClaim& claim);

/// The two conformance tests of the canaries' updates (noise; sampling and clipping), each a
/// two-sided z-test at `significance` (docs/auditing.md).
nlohmann::json conformance_gates(const DiracCanaries::Conformance& conformance, double sample_rate,
                                 double significance);

/// The two one-run gate tests (Steinke, f-DP) of `auditor`'s scores: each bound on ε at the gate's
/// δ' and `significance`, and whether it exceeds the claimed ε'.
nlohmann::json one_run_gates(const CanaryAuditor& auditor, double significance,
                             const ProfilePoint& gate);

/// The accountant test: flags when the accountant composed anything but `mechanism`'s steps (an
/// accountant told another σ or q than the mechanism ran claims a different ε, which no score
/// would show when the claim is smaller than the truth but still above the lower bounds). It is
/// exact, so it takes no share of the family-wise level.
nlohmann::json accountant_gate(const privacy::SgmSteps& mechanism,
                               const std::vector<privacy::SgmSteps>& composed);

/// Whether any test of a verdict's `tests` object flags.
bool any_flags(const nlohmann::json& tests);

}  // namespace dpforge::audit
