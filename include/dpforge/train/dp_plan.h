// SPDX-License-Identifier: Apache-2.0
// From a recipe to the run's DP plan (dp/plan.h): validated and calibrated once, before training.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/config/recipe.h"
#include "dpforge/dp/plan.h"

namespace dpforge::train {

/// The DP plan of `recipe` on a private training set of `dataset_size` examples: q = batch_size /
/// N, steps = ceil(epochs / q), σ given or calibrated to privacy.target_epsilon, and the number of
/// steps the budget allows. InputError when the batch exceeds N or the target is unreachable.
dp::DpPlan make_dp_plan(const config::Recipe& recipe, int64_t dataset_size);

/// Settings that are legal but weaken the guarantee (δ ≥ 1/N), one message each.
std::vector<std::string> plan_warnings(const dp::DpPlan& plan);

/// The line a run prints about its mechanism: "DP-SGD: q = …, sigma = …, C = …, T steps, delta =
/// …".
std::string describe(const dp::DpPlan& plan);

}  // namespace dpforge::train
