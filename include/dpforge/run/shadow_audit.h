// SPDX-License-Identifier: Apache-2.0
// Shadow-model membership inference on a trained model (`dpforge audit RUN_DIR --set
// audit.shadow_models=K`, or at the end of `dpforge train` when audit.shadow_models > 0).
//
// Targets: M training examples (members) and M test examples (non-members), chosen at random by the
// auditor's generator, plus Z further test examples as RMIA's population. Shadow model k is trained
// by the same trainer from the same recipe (DP or not) on each target independently with
// probability ½ plus a random half of the other training examples; no model ever trains on the
// population. Then LiRA (online, offline, each with per-example or fixed variance) and RMIA
// (offline) score the targets on the attacked model (audit/shadow_attacks.h).
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "dpforge/config/recipe.h"
#include "dpforge/data/dataset.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run {

/// Per attack (lira_online, lira_online_fixed_variance, lira_offline, lira_offline_fixed_variance,
/// rmia_offline): AUROC, TPR at 0.1% and 1% FPR, balanced accuracy and ROC points (the fields of
/// audit::membership_attacks), plus `shadow_setup` (shadow models, targets, population).
/// A private recipe's shadows are trained as the run was: their accountants compose the run's
/// releases before training (`run_before`, so their σ is the run's), and each plans with its own
/// training set's size.
nlohmann::json shadow_membership_attacks(const config::Recipe& recipe, torch::nn::Sequential& model,
                                         const data::Dataset& train_set,
                                         const data::Dataset& test_set,
                                         const train::BeforeTraining& run_before,
                                         int64_t shadow_models, uint64_t auditor_seed,
                                         std::FILE* progress);

}  // namespace dpforge::run
