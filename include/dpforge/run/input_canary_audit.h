// SPDX-License-Identifier: Apache-2.0
// Black-box one-run audit with input-space canaries (Steinke, Nasr & Jagielski 2023, §"black-box"):
// m examples with flipped labels, each a member with probability ½ (the auditor's coin), join the
// training set of a separate run of the same recipe; afterwards each canary is scored by the
// trained model's −loss on its flipped label. Unlike the white-box Dirac canaries this goes through
// the whole pipeline, the per-layer norm and clipping code of every layer included, and only looks
// at the released model; its bounds are correspondingly weaker.
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run {

/// The canaries of one audit: the last m test examples (never in the training split) with a wrong
/// label, uniform over the other classes, each a member by the auditor's coin.
struct InputCanaries {
  data::Dataset training_set;  // the training split followed by the member canaries
  data::Dataset canaries;      // all m, with their flipped labels
  torch::Tensor member;        // m booleans
};
/// The canaries and their coins, drawn from `auditor_seed` (InputError when m exceeds half the
/// test split).
InputCanaries make_input_canaries(const data::Dataset& train_set, const data::Dataset& test_set,
                                  int64_t canaries, uint64_t auditor_seed);

/// What the audit run claims: its ε at δ, and its accountant over every step it took under
/// add/remove adjacency (a canary is in the data or not), which places the gate tests.
struct AuditRunClaim {
  double epsilon = 0;
  double delta = 0;
  const privacy::Accountant* steps = nullptr;
};

/// The audit summary of `model`, trained on canaries.training_set, against `claim`: the one-run
/// bounds of the canaries' scores (−loss on the flipped label), the two gate tests at
/// `gate_significance` and the `status`.
nlohmann::json judge_input_canaries(const InputCanaries& canaries, torch::nn::Sequential& model,
                                    const AuditRunClaim& claim, double confidence,
                                    double gate_significance);

/// Trains the audit run and returns the audit summary (audit::summarize plus the claimed ε of the
/// audit run, how the canaries were made, and its two gate tests — the one-run bounds at
/// `gate_significance` against the claim — with its `status`). Canaries are the last m test
/// examples, so they are never part of the training split. Everything random (the canaries'
/// labels and membership, the audit run's initialization, sampling and noise) comes from
/// `auditor_seed`. The audit run composes the run's releases before training (`run_before`), as
/// the run did, and plans with its own training set's size.
nlohmann::json input_canary_audit(const config::Recipe& recipe, const data::Dataset& train_set,
                                  const data::Dataset& test_set,
                                  const train::BeforeTraining& run_before, int64_t canaries,
                                  uint64_t auditor_seed, double gate_significance,
                                  std::FILE* progress);

}  // namespace dpforge::run
