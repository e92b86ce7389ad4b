// SPDX-License-Identifier: Apache-2.0
// The white-box audit's verdict on a private run: lower bounds on ε from the Dirac canaries'
// scores next to the accountant's ε, and the conformance tests of the observed updates against the
// claimed mechanism. "violation" when a lower bound exceeds the claim or a conformance test fails.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "dpforge/audit/dirac_canaries.h"

namespace dpforge::audit {

/// What the run claims and the audit tests.
struct WhiteBoxClaim {
  double epsilon = 0;  // the accountant's ε over every step taken
  double delta = 0;
  double sample_rate = 0;  // q
  double confidence = 0.95;
  bool inline_run = true;  // canaries rode along in the released run (else a second run)
};

struct WhiteBoxAudit {
  nlohmann::json summary;  // report.json's `audit` object; summary["status"] is the verdict
  std::string roc_csv;     // threshold,fpr,tpr rows (DIR/audit_roc.csv)
};

WhiteBoxAudit audit_white_box(const DiracCanaries& canaries, const WhiteBoxClaim& claim);

}  // namespace dpforge::audit
