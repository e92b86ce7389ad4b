// SPDX-License-Identifier: Apache-2.0
// Black-box membership-inference attacks on a trained model, scored in eval mode.
//  - LOSS (Yeom et al. 2018): score = −ℓ(θ; x, y) with the task's loss (data/task.h), members
//    have lower loss;
//  - modified entropy (Song & Mittal 2021): Mentr = −(1 − p_y) log p_y − Σ_{i≠y} p_i log(1 − p_i),
//    score = −Mentr; classification only (a binary logit z gives p = (σ(−z), σ(z))).
// Members are training examples and non-members held-out test examples: the split is fixed, not a
// coin flip per example, so these are attack metrics (AUROC, TPR at low FPR), not DP lower bounds.
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "dpforge/data/dataset.h"

namespace dpforge::audit {

struct MiaScores {
  std::vector<double> loss;   // −cross-entropy
  std::vector<double> mentr;  // −modified entropy; empty for regression
};

/// Scores every example of `dataset` under both attacks (higher = more likely a member).
MiaScores mia_scores(torch::nn::Sequential& model, const data::Dataset& dataset);

/// Runs both attacks with `members` (trained on) against `non_members` and reports, per attack,
/// AUROC, TPR at 0.1% and 1% FPR and balanced accuracy.
nlohmann::json membership_attacks(torch::nn::Sequential& model, const data::Dataset& members,
                                  const data::Dataset& non_members);

}  // namespace dpforge::audit
