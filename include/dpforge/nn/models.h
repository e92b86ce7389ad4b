// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include <torch/nn/modules/container/sequential.h>

#include "dpforge/config/recipe.h"

namespace dpforge::nn {

/// Builds the model a recipe names for 1 x 28 x 28 inputs and `num_classes` outputs:
///  - mlp: flatten → Linear(784, h) → tanh → Linear(h, h) → tanh → Linear(h, classes);
///  - cnn_tanh: Tramèr & Boneh (2021), 26,010 parameters: conv 16@8x8 s2 p2 → tanh → maxpool 2 s1
///    → conv 32@4x4 s2 → tanh → maxpool 2 s1 → Linear(512, 32) → tanh → Linear(32, classes);
///  - wrn16_4: pre-activation wide ResNet, depth 16, width 4, GroupNorm(16) instead of BatchNorm.
torch::nn::Sequential make_model(const config::ModelOptions& options, int64_t num_classes = 10);

/// Number of trainable scalars.
int64_t count_parameters(const torch::nn::Module& model);

}  // namespace dpforge::nn
