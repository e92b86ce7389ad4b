// SPDX-License-Identifier: Apache-2.0
// One `dpforge train` run: data → model → training → DIR/report.json + DIR/model.pt.
#pragma once
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "dpforge/config/recipe.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {

struct RunOutcome {
  TrainResult result;
  nlohmann::json report;
};

/// Trains the recipe's model and writes `out_dir`/report.json and `out_dir`/model.pt (each
/// atomically, so a crash never leaves a half-written file), with checkpoints and the privacy
/// ledger on the way (checkpoint.h). Refuses (InputError) an `out_dir` that already holds a
/// report, so finished runs are never overwritten. `resume`: continue the unfinished run in
/// `out_dir` from its newest intact checkpoint; the recipe must match the one it started with.
RunOutcome run_training(const config::Recipe& recipe, const std::filesystem::path& out_dir,
                        std::FILE* progress, bool resume = false);

/// Saves parameters and buffers as a dict name → tensor in PyTorch's own zip format, so that
/// Python reads it with `torch.load(path)` and `model.load_state_dict(...)`.
void save_state_dict(const torch::nn::Module& model, const std::filesystem::path& path);

/// The datasets of a recipe: the training split (a subset if data.train_subset, minus the last
/// data.validation_size examples, which form `validation`) and the test split.
struct RunData {
  data::Dataset train, test, validation;
};
RunData load_run_data(const config::Recipe& recipe);

/// Loads weights saved by save_state_dict (or Python's torch.save of a state dict) into `model`;
/// InputError naming the file on a missing tensor or a shape mismatch.
void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path);

/// The recipe's data root with defaults applied.
std::filesystem::path data_root(const config::Recipe& recipe);

}  // namespace dpforge::train
