// SPDX-License-Identifier: Apache-2.0
// Black-box one-run audit with input-space canaries (Steinke, Nasr & Jagielski 2023, §"black-box"):
// m examples with flipped labels, each a member with probability ½ (the auditor's coin), join the
// training set of a separate run of the same recipe; afterwards each canary is scored by the
// trained model's −loss on its flipped label. Unlike the white-box Dirac canaries this goes through
// the whole pipeline, the per-layer norm and clipping code of every layer included, and only looks
// at the released model; its bounds are correspondingly weaker.
#pragma once
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"

namespace dpforge::run {

/// Trains the audit run and returns the audit summary (audit::summarize plus the claimed ε of the
/// audit run, how the canaries were made, and its two gate tests — the one-run bounds at
/// `gate_significance` against the claim — with its `status`). Canaries are the last m test
/// examples, so they are never part of the training split. Everything random (the canaries'
/// labels and membership, the audit run's initialization, sampling and noise) comes from
/// `auditor_seed`.
nlohmann::json input_canary_audit(const config::Recipe& recipe, const data::Dataset& train_set,
                                  const data::Dataset& test_set, int64_t canaries,
                                  uint64_t auditor_seed, double gate_significance,
                                  std::FILE* progress);

}  // namespace dpforge::run
