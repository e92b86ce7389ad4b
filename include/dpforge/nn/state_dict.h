// SPDX-License-Identifier: Apache-2.0
// Model weights in PyTorch's own state-dict format, so that Python reads what dpforge writes and
// dpforge reads what Python writes.
#pragma once
#include <torch/nn/module.h>

#include <filesystem>

namespace dpforge::nn {

/// Saves parameters and buffers as a dict name → tensor in PyTorch's own zip format (atomically),
/// so that Python reads it with `torch.load(path)` and `model.load_state_dict(...)`.
void save_state_dict(const torch::nn::Module& model, const std::filesystem::path& path);

/// Loads weights saved by save_state_dict (or Python's torch.save of a state dict) into `model`,
/// strictly: InputError naming the file on a missing tensor, one the model has no place for, or a
/// shape mismatch.
void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path);

}  // namespace dpforge::nn
