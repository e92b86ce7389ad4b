// SPDX-License-Identifier: Apache-2.0
// What a run folder holds and whether a recipe is the one it was started with. A run folder is
//   recipe.ini            the resolved recipe, written before training starts (config::to_ini);
//   checkpoints/, privacy_ledger.json   while the run is unfinished (train/checkpoint.h);
//   report.json, model.pt once it has finished.
// `train --out`, `train --resume` and `sweep` all ask these questions, so they answer alike.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/config/recipe.h"

namespace dpforge::run {

inline constexpr const char* kStoredRecipe = "recipe.ini";

enum class FolderState {
  kAbsent,      // no such folder
  kEmpty,       // nothing that records a run: a new run may start here (e.g. one killed during
                // start-up, which leaves at most recipe.ini and a checkpoint write never completed)
  kUnfinished,  // a checkpoint or a privacy ledger: `train --resume DIR` continues it
  kFinished,    // report.json
};
FolderState folder_state(const std::filesystem::path& dir);

/// Recipe keys a resume may change: none of them touches the privacy accounting or the numbers.
bool key_may_change_on_resume(const std::string& key);

/// One key whose value differs between the recipe a run was started with and another one.
struct RecipeDifference {
  std::string key, then, now;       // now = "(no such key)" when the key is gone
  bool changes_accounting = false;  // the data, q, σ, the steps, δ or the audit
};

/// Every key (except those a resume may change) whose value differs, in the saved order; then the
/// keys the saved recipe lacks (an older dpforge) whose current value is not their default.
std::vector<RecipeDifference> recipe_differences(const nlohmann::json& saved_values,
                                                 const nlohmann::json& current_values);

/// How describe_differences names the two sides, and whether it says why each key matters.
struct DifferenceWording {
  std::string then = "then", now = "now";
  bool why = true;
};

/// One line per difference ("  privacy.noise_multiplier: '1' then, '2' now (it changes the
/// privacy accounting …)"), then the --set arguments that restore the saved values.
std::string describe_differences(const std::vector<RecipeDifference>& differences,
                                 const DifferenceWording& wording = {});

/// 16 hex digits of FNV-1a over the values of the keys that define a run (all but those a resume
/// may change): two recipes with the same hash are the same run as far as a sweep or a resume is
/// concerned (in a seeded run the noise keys also depend on run.name; run.cpp).
std::string recipe_hash(const nlohmann::json& values);

/// The recipe values (text, as report::recipe_values_json) a run folder was run with: a finished
/// run's report.json, else its recipe.ini; nullopt when it has neither.
std::optional<nlohmann::json> stored_recipe_values(const std::filesystem::path& dir);

/// Refuses (InputError) a resume whose recipe differs from the saved one, naming every differing
/// key at once with both values, why it matters, and the --set arguments that restore it.
void check_resume_recipe(const std::filesystem::path& dir, const nlohmann::json& saved_values,
                         const nlohmann::json& current_values);

/// The recipe `train --resume DIR` continues: `recipe_path` when given, else DIR/recipe.ini, with
/// `overrides` applied (both are checked against the run's own when it continues). InputError when
/// DIR is absent, finished, or not a run folder, each saying what the folder holds and the one
/// command that helps.
config::Recipe resume_recipe(const std::filesystem::path& dir,
                             const std::optional<std::string>& recipe_path,
                             const std::vector<std::string>& overrides);

}  // namespace dpforge::run
