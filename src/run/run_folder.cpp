// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/run_folder.h"

#include <fmt/format.h>

#include <fstream>

#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/run_report.h"
#include "dpforge/train/checkpoint.h"

namespace dpforge::run {
namespace {

bool has_checkpoint_files(const std::filesystem::path& dir) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "checkpoints", error)) {
    // Only a completed write is renamed to its final name (a .partial never is).
    if (entry.path().extension() == ".ckpt") return true;
  }
  return false;
}

bool changes_accounting(const std::string& key) {
  return key.rfind("privacy.", 0) == 0 || key.rfind("data.", 0) == 0 || key == "train.batch_size" ||
         key == "train.epochs" || key == "train.seed" || key.rfind("audit.", 0) == 0;
}

}  // namespace

FolderState folder_state(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) return FolderState::kAbsent;
  if (std::filesystem::exists(dir / "report.json")) return FolderState::kFinished;
  if (has_checkpoint_files(dir) || std::filesystem::exists(dir / "privacy_ledger.json"))
    return FolderState::kUnfinished;
  return FolderState::kEmpty;
}

bool key_may_change_on_resume(const std::string& key) {
  return key == "run.name" || key == "train.checkpoint_every" ||
         key == "train.checkpoint_seconds" || key == "train.keep_checkpoints" ||
         key.rfind("sweep.", 0) == 0;
}

std::vector<RecipeDifference> recipe_differences(const nlohmann::json& saved,
                                                 const nlohmann::json& current) {
  std::vector<RecipeDifference> differences;
  for (const auto& [key, value] : saved.items()) {
    if (key_may_change_on_resume(key)) continue;
    const auto* retired = config::find_retired_key(key);
    if (retired != nullptr && value == retired->value) continue;  // as every run then had it
    const auto found = current.find(key);
    if (found != current.end() && *found == value) continue;
    differences.push_back({key, value.get<std::string>(),
                           found != current.end() ? found->get<std::string>() : "(no such key)",
                           changes_accounting(key)});
  }
  // A key the saved recipe lacks (a run of an older dpforge) ran as that version's behaviour,
  // which a new key's default keeps; any other value now is a different run.
  for (const auto& key : config::recipe_keys()) {
    if (saved.contains(key.key) || key_may_change_on_resume(key.key)) continue;
    const auto found = current.find(key.key);
    if (found == current.end() || found->get<std::string>() == key.default_value) continue;
    differences.push_back({key.key, "(no such key; default " + key.default_value + ")",
                           found->get<std::string>(), changes_accounting(key.key)});
  }
  return differences;
}

std::string describe_differences(const std::vector<RecipeDifference>& differences,
                                 const DifferenceWording& wording) {
  std::string text, restore;
  for (const auto& d : differences) {
    const std::string why =
        !wording.why ? ""
        : d.changes_accounting
            ? " (it changes the privacy accounting: the data, q, sigma, the steps, delta or the "
              "audit)"
            : " (another value would make another run, not the same one bit for bit)";
    text += fmt::format("  {}: '{}' {}, '{}' {}{}\n", d.key, d.then, wording.then, d.now,
                        wording.now, why);
    restore += fmt::format(" --set {}={}", d.key, d.then);
  }
  return text + "  (the values it was started with:" + restore + ")";
}

std::string recipe_hash(const nlohmann::json& values) {
  std::string defining;
  for (const auto& [key, value] : values.items()) {
    if (!key_may_change_on_resume(key)) defining += key + "=" + value.dump() + "\n";
  }
  return fmt::format("{:016x}", fnv1a(defining));
}

std::optional<nlohmann::json> stored_recipe_values(const std::filesystem::path& dir) {
  // A finished run's report holds the recipe it ran with; recipe.ini is what the run started from.
  if (std::filesystem::exists(dir / "report.json")) {
    const auto report = report::read_report(dir);
    nlohmann::json values = nlohmann::json::object();
    for (const auto& [key, value] : report["recipe"]["values"].items())
      values[key] = report::recipe_value_text(value);
    return values;
  }
  if (std::filesystem::exists(dir / kStoredRecipe))
    return report::recipe_values_json(config::load_recipe((dir / kStoredRecipe).string()));
  return std::nullopt;
}

void check_resume_recipe(const std::filesystem::path& dir, const nlohmann::json& saved,
                         const nlohmann::json& current) {
  const auto differences = recipe_differences(saved, current);
  if (differences.empty()) return;
  throw_input_error(
      "cannot resume {}: {} recipe key{} differ{} from the run's own:\n{}\nA resumed run continues "
      "the same run, and the epsilon already spent was accounted under the old values. Resume "
      "with `dpforge train --resume {}` alone (it reads {}), or start a new run in another "
      "folder.",
      dir.string(), differences.size(), differences.size() == 1 ? "" : "s",
      differences.size() == 1 ? "s" : "", describe_differences(differences), dir.string(),
      (dir / kStoredRecipe).string());
}

config::Recipe resume_recipe(const std::filesystem::path& dir,
                             const std::optional<std::string>& recipe_path,
                             const std::vector<std::string>& overrides) {
  switch (folder_state(dir)) {
    case FolderState::kAbsent:
      throw_input_error("--resume {}: no such folder", dir.string());
    case FolderState::kFinished:
      throw_input_error(
          "--resume {}: holds a finished run (report.json), so there is nothing to resume; see it "
          "with `dpforge report {}`",
          dir.string(), dir.string());
    case FolderState::kEmpty:
      if (!std::filesystem::exists(dir / kStoredRecipe)) {
        throw_input_error(
            "--resume {}: not a dpforge run folder (no {}, checkpoints/ or report.json); start a "
            "run there with `dpforge train RECIPE --out {}`",
            dir.string(), kStoredRecipe, dir.string());
      }
      break;
    case FolderState::kUnfinished:
      break;
  }
  if (recipe_path) return config::load_recipe(*recipe_path, overrides);
  if (!std::filesystem::exists(dir / kStoredRecipe)) {
    throw_input_error(
        "--resume {}: the run was started by an older dpforge that kept no {}; give its recipe "
        "and overrides: `dpforge train RECIPE [--set ...] --resume {}`",
        dir.string(), kStoredRecipe, dir.string());
  }
  return config::load_recipe((dir / kStoredRecipe).string(), overrides);
}

}  // namespace dpforge::run
