// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/core/cpus.h"
#include "dpforge/core/files.h"
#include "dpforge/core/random.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/run_report.h"
#include "dpforge/run/run.h"
#include "dpforge/run/shadow_audit.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

// The run standardized and encoded its data with its DP releases: the same numbers, read back
// from its report (pure post-processing; nothing new is computed from the data), and the releases
// stay in the shadow models' accountants so they are trained exactly like the audited model. The
// report holds no digest of the training data (that would leak it), so changed data is not
// detected here; the recorded columns and vocabularies must still match the recipe's.
void reapply_dp_statistics(const nlohmann::json& report, const std::filesystem::path& run_dir,
                           const config::Recipe& recipe, run::RunData& data) {
  const auto where = (run_dir / "report.json").string();
  const nlohmann::json none = nlohmann::json::object();
  const auto& recorded =
      report.contains("data") && report["data"].is_object() ? report["data"] : none;
  // Unbounded columns join the standardized ones under data.scaling = standardize.
  const bool standardized =
      !data.deferred.empty() ||
      (!data.unbounded.empty() && config::resolved_scaling(recipe) == data::Scaling::kStandardize);
  if ((standardized && !recorded.contains("dp_statistics")) ||
      (!data.unbounded.empty() && !recorded.contains("dp_bounds")) ||
      (!data.deferred_categories.empty() && !recorded.contains("dp_vocabulary"))) {
    throw_input_error(
        "{}: the run's DP statistics (data.dp_bounds, data.dp_statistics, data.dp_vocabulary) "
        "are missing for the columns its recipe defers; it cannot be audited with this data",
        where);
  }
  try {
    nlohmann::json stored = nlohmann::json::object();
    if (standardized) {
      // apply_dp_statistics checks the columns against the recipe's.
      for (const char* key : {"columns", "noise_multiplier", "means", "stds"})
        stored[key] = recorded.at("dp_statistics").at(key);
    }
    if (!data.unbounded.empty()) stored["bounds"] = recorded.at("dp_bounds");
    if (!data.deferred_categories.empty()) stored["vocabulary"] = recorded.at("dp_vocabulary");
    run::apply_dp_statistics(recipe, data, 0, stored, run::ReleaseRecord::kFromReport);
  } catch (const InputError& error) {
    throw_input_error("{}: {}", where, error.what());
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: its DP statistics cannot be read back: {}", where, error.what());
  }
}

}  // namespace

namespace {

// Keys an after-the-fact audit may change: how to attack, not what was trained.
bool may_override(const std::string& item) {
  return item.rfind("audit.", 0) == 0 || item.rfind("run.threads=", 0) == 0 ||
         item.rfind("data.root=", 0) == 0;
}

}  // namespace

int audit_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge audit RUN_DIR --set audit.shadow_models=K [--set audit.key=value]... [--json]");
  options.add_options()("help,h", "show this help")("run", po::value<std::string>(),
                                                    "finished run folder")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "audit.* (e.g. audit.shadow_models=8, audit.seed=N), run.threads or data.root")(
      "json", "print the attacks' JSON");
  po::positional_options_description positional;
  positional.add("run", 1);
  const auto values = parse_args("audit", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("run") == 0U)
    throw_input_error(
        "dpforge audit: missing RUN_DIR (a finished run with report.json and model.pt)");
  const std::filesystem::path run_dir = values["run"].as<std::string>();
  auto report = report::read_report(run_dir);

  // The recipe exactly as the run resolved it, then the audit's own settings.
  std::vector<std::string> overrides;
  for (const auto& [key, value] : report["recipe"]["values"].items())
    overrides.push_back(key + "=" + report::recipe_value_text(value));
  const auto extra = values.count("set") != 0U ? values["set"].as<std::vector<std::string>>()
                                               : std::vector<std::string>{};
  for (const auto& item : extra) {
    if (!may_override(item)) {
      throw_input_error(
          "dpforge audit --set {}: only audit.*, run.threads and data.root may change; the shadow "
          "models must be trained like the audited model",
          item);
    }
    overrides.push_back(item);
  }
  config::Recipe recipe;
  try {
    config::apply_overrides(recipe, overrides);
  } catch (const InputError& error) {
    throw_input_error("{}: its recipe cannot be rebuilt: {}", (run_dir / "report.json").string(),
                      error.what());
  }
  if (recipe.audit.shadow_models() < 1) {
    throw_input_error(
        "dpforge audit: give the number of shadow models, e.g. --set audit.shadow_models=8 (each "
        "is one "
        "more training run of the recipe)");
  }
  torch::set_num_threads(static_cast<int>(core::choose_threads(recipe.run.threads()).count));
  auto data = run::load_run_data(recipe);
  if (!data.deferred.empty() || !data.deferred_categories.empty())
    reapply_dp_statistics(report, run_dir, recipe, data);
  // The size's DP count stays in the shadow models' accountants too (run::plan_dataset_size).
  const auto& size = report["privacy"].value("dataset_size", nlohmann::json::object());
  if (size.value("source", "") == "dp_count") {
    data.size_release = run::SizeRelease{size.at("noise_multiplier").get<double>(),
                                         size.value("value", int64_t{0})};
  }
  auto model = nn::make_model(recipe.model, data.train);
  nn::load_state_dict(*model, run_dir / "model.pt");

  const uint64_t seed = recipe.audit.seed().value_or(secure_random_seed());
  const auto attacks = run::shadow_membership_attacks(recipe, model, data.train, data.test,
                                                      run::before_training(data),
                                                      recipe.audit.shadow_models(), seed, stderr);
  if (!report["mia"].is_object()) report["mia"] = nlohmann::json::object();
  report["mia"].update(attacks);
  write_file_atomic(run_dir / "report.json", report.dump(2) + "\n");

  if (values.count("json") != 0U) {
    fmt::print("{}\n", attacks.dump(2));
    return kExitOk;
  }
  const auto& setup = attacks["shadow_setup"];
  fmt::print("membership inference with {} shadow models on {} members / {} non-members ({}):\n",
             setup["shadow_models"].get<int64_t>(), setup["members"].get<int64_t>(),
             setup["non_members"].get<int64_t>(), run_dir.string());
  fmt::print("{:<30} {:>7} {:>10} {:>10}\n", "attack", "AUROC", "TPR@0.1%", "TPR@1%");
  for (const auto& name : report::attack_names()) {
    if (!report["mia"].contains(name)) continue;
    const auto& a = report["mia"][name];
    fmt::print("{:<30} {:>7.3f} {:>10.4f} {:>10.4f}\n", name, a["auroc"].get<double>(),
               a["tpr_at_fpr"]["0.001"].get<double>(), a["tpr_at_fpr"]["0.01"].get<double>());
  }
  fmt::print("report: {} (mia updated)\n", (run_dir / "report.json").string());
  return kExitOk;
}

}  // namespace dpforge::cli
