// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/nn/module.h>

namespace dpforge::nn {

/// Refuses (InputError) a model the DP engine cannot train privately, naming the module path and
/// the fix: BatchNorm and other layers that mix examples of a batch (docs/design.md, invariant 4),
/// and any module owning parameters that is not a dpforge DP layer (its gradient would escape
/// clipping).
void validate_model(const torch::nn::Module& model);

}  // namespace dpforge::nn
