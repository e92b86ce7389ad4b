// SPDX-License-Identifier: Apache-2.0
// The white-box audit run on the idealized mechanism it tests, without training: canary updates of
// a faithful Poisson-subsampled Gaussian (each member canary in a step with probability q and
// clipped to C, every coordinate noised with σC, the sum divided by the expected batch size).
// How often the verdict flags such runs is its false-alarm rate, measured here against the nominal
// kVerdictLevel (docs/auditing.md).
#pragma once
#include <cstdint>

#include "dpforge/audit/white_box.h"

namespace dpforge::audit {

struct NullAuditSetting {
  int64_t canaries = 1000;
  int64_t steps = 50;
  double noise_multiplier = 1.0;
  double sample_rate = 0.1;
  double delta = 1e-5;
};

struct NullAuditRate {
  int64_t audits = 0;
  int64_t flagged = 0;  // verdicts "violation"
  double claimed_epsilon = 0;
  ProfilePoint gate;               // the profile point the one-run gates tested
  double largest_lower_bound = 0;  // the largest 95% one-run bound seen, for comparison
};

/// Runs `audits` simulated faithful audits of `setting` (seeds seed, seed + 1, …), each judged by
/// audit_white_box against the PLD accountant's ε, with the four gate tests of a run without input
/// canaries.
NullAuditRate simulate_null_audits(const NullAuditSetting& setting, int64_t audits, uint64_t seed);

}  // namespace dpforge::audit
