// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

namespace dpforge::nn {

/// Refuses (InputError) a model the DP engine cannot train privately, naming the module path and
/// the fix: BatchNorm and other layers that mix examples of a batch (docs/design.md, invariant 4),
/// and any module owning parameters that is not a dpforge DP layer (its gradient would escape
/// clipping).
void validate_model(const torch::nn::Module& model);

/// Refuses (InputError) a model whose output for one example depends on another example of the
/// batch, whatever its modules are called: runs the first of `examples` beside the second and
/// beside a later example unlike the second, else a changed copy of it (training mode, the same
/// random state), and compares. Leaves the random state as it found it.
void check_examples_independent(torch::nn::Sequential& model, const torch::Tensor& examples);

}  // namespace dpforge::nn
