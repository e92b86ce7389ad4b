// SPDX-License-Identifier: Apache-2.0
// The white-box audit of a private run from the Dirac canaries that rode along in it
// (audit/white_box.h): what `dpforge train` reports as the run's verdict, for any program that
// trains with train::train_private.
//
// Example (examples/custom_model runs it against an installed dpforge):
//   audit::DiracCanaries canaries(1000, secure_random_seed(), 10 * max_grad_norm);
//   train::PrivacySummary privacy;
//   train::train_private(options, model, train_set, held_out, seeds, stderr, privacy, &canaries);
//   const auto audit = train::audit_private_run(canaries, privacy);
//   // audit.summary["status"]: "pass" or "violation"; audit.summary["epsilon_lower_bounds"] ...
#pragma once
#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/core/options.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {

struct RunAuditOptions {
  /// Confidence of the reported (informational) ε lower bounds.
  DPF_ARG(double, confidence) = 0.95;
  /// The canaries rode along in the released run (false: a second training run carried them).
  DPF_ARG(bool, inline_run) = true;
  /// Significance of each gate test: the verdict's family-wise level over the tests that can flag
  /// the run (4 here; more when other audits share the level).
  DPF_ARG(double, gate_significance) = audit::per_test_significance(4);
};

/// Tests the claim the run's accountant composed for its DP-SGD steps (steps_claim: under
/// add/remove adjacency, without releases made before training, which the canaries do not see)
/// against what `canaries` observed. summary["claim_audited"] says so when that is not the run's
/// own ε.
audit::WhiteBoxAudit audit_private_run(const audit::DiracCanaries& canaries,
                                       const PrivacySummary& privacy,
                                       const RunAuditOptions& options = {});

}  // namespace dpforge::train
