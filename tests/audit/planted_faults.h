// SPDX-License-Identifier: Apache-2.0
// Planted privacy bugs, for validating the auditor in the test suite. They live here, in test
// code: the mechanism has no fault switch and a recipe no fault key. Each fault breaks one
// invariant of the plan the mechanism executes while the accountant and the canaries are told the
// honest plan, which is exactly the disagreement the audit must detect. The mutation suite
// (scripts/mutants/) plants the same bugs in the sources and checks that a shipped run's own audit
// catches them (exit 3).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

#include "dpforge/dp/plan.h"

namespace dpforge::testing {

enum class Fault {
  kNone,
  kNoNoise,          // the noise is left out
  kHalfNoise,        // half the claimed noise std
  kNoClip,           // per-example gradients are summed unclipped
  kWrongSampleRate,  // examples are sampled at twice the claimed rate
};

/// `honest` with one invariant broken (kNone: unchanged).
dp::DpPlan faulty_plan(const dp::DpPlan& honest, Fault fault);

/// The white-box verdict (report.json's `audit` object) on a DP-SGD run assembled from the
/// engine's public parts as train_private assembles it: the mechanism (dp::dp_sgd_step) runs
/// faulty_plan(claimed, fault) while the accountant, the canaries and the verdict are told
/// `claimed` (an MLP on a learnable synthetic table of 2000 examples, ε = 2, 2000 canaries).
nlohmann::json white_box_verdict_of_a_planted_run(Fault fault, uint64_t seed);

}  // namespace dpforge::testing
