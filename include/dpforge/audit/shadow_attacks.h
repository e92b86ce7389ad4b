// SPDX-License-Identifier: Apache-2.0
// Membership inference with shadow (reference) models, the attacks ML Privacy Meter users expect:
//  - LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles"): the
//    logit-scaled confidence φ = log p_y − log(1 − p_y) of an example under models trained with it
//    (IN) and without it (OUT) is close to Gaussian. Online: score = log N(φ; μ_in, σ_in²) −
//    log N(φ; μ_out, σ_out²); offline (OUT models only): score = (φ − μ_out)/σ_out. "Fixed
//    variance" pools one σ over all examples, better with few shadow models.
//  - RMIA offline (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks"):
//    LR(x) = Pr(x|θ) / Pr(x) with Pr(x) = ½((1 + a)·mean_OUT Pr(x|θ_ref) + (1 − a)); the score of x
//    is the fraction of population examples z with LR(x)/LR(z) > γ.
// All signals are taken in eval mode.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <vector>

#include "dpforge/data/dataset.h"

namespace dpforge::audit {

/// Per example of `dataset`: φ = log p_y − log(1 − p_y) and p_y (float64), in eval mode. For a
/// regression task φ = −(ŷ − y)² and p = e^{−(ŷ − y)²/2}.
struct ConfidenceSignals {
  torch::Tensor phi;
  torch::Tensor probability;
};
ConfidenceSignals confidence_signals(torch::nn::Sequential& model, const data::Dataset& dataset);

/// What the attacks see: the attacked model's signals on T targets, and K shadow models' signals on
/// the same targets with which of them each shadow trained on.
struct ShadowSignals {
  torch::Tensor target_phi, target_probability;  // [T]
  torch::Tensor shadow_phi, shadow_probability;  // [K, T]
  torch::Tensor shadow_in;                       // [K, T] bool
};

std::vector<double> lira_online_scores(const ShadowSignals& signals, bool fixed_variance);
std::vector<double> lira_offline_scores(const ShadowSignals& signals, bool fixed_variance);

/// `population_probability` [Z] on the attacked model and `population_shadow_probability` [K, Z]:
/// population examples no model trained on.
std::vector<double> rmia_offline_scores(const ShadowSignals& signals,
                                        const torch::Tensor& population_probability,
                                        const torch::Tensor& population_shadow_probability,
                                        double a = 0.3, double gamma = 1.0);

}  // namespace dpforge::audit
