// SPDX-License-Identifier: Apache-2.0
#include "dpforge/report/run_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/version.h>

#include <optional>

#include "dpforge/train/metrics.h"

#ifndef DPFORGE_VERSION
#define DPFORGE_VERSION "unknown"
#endif

namespace dpforge::report {
namespace {

nlohmann::json metrics_json(const train::TrainResult& result) {
  auto epochs = nlohmann::json::array();
  for (const auto& m : result.epochs) epochs.push_back(train::to_json(m));
  return epochs;
}

}  // namespace

nlohmann::json recipe_values_json(const config::Recipe& recipe) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : config::resolved_values(recipe)) values[key] = value;
  return values;
}

nlohmann::json typed_recipe_values(const config::Recipe& recipe) {
  const auto keys = config::recipe_keys();
  const auto resolved = config::resolved_values(recipe);
  nlohmann::json values = nlohmann::json::object();
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& [key, text] = resolved[i];
    const auto& type = keys[i].type;
    if (type == "int") {
      values[key] = std::stoll(text);
    } else if (type == "int or empty") {
      values[key] = text.empty() ? nlohmann::json(nullptr) : nlohmann::json(std::stoull(text));
    } else if (type == "float") {
      values[key] = std::stod(text);
    } else if (type == "float or auto") {
      values[key] = text == "auto" ? nlohmann::json(text) : nlohmann::json(std::stod(text));
    } else if (type == "bool") {
      values[key] = text == "true";
    } else {
      values[key] = text;
    }
  }
  return values;
}

std::string recipe_value_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  // The shortest text that reads back to the same double, as the recipe's own getter writes it.
  return fmt::format("{}", value.get<double>());
}

namespace {

// The Gaussian releases of the training data before training (DP ranges, DP statistics, then DP
// vocabularies: the order run::apply_dp_statistics makes them in), each composed in ε.
nlohmann::json preprocessing_json(const std::vector<privacy::SgmSteps>& releases,
                                  const std::vector<std::string>& names) {
  auto array = nlohmann::json::array();
  for (size_t k = 0; k < releases.size(); ++k) {
    const auto& release = releases[k];
    array.push_back({{"mechanism", "gaussian"},
                     {"what", k < names.size() ? names[k] : "a release of the training data"},
                     {"noise_multiplier", release.noise_multiplier},
                     {"sample_rate", release.sample_rate},
                     {"count", release.count}});
  }
  return array;
}

// What each release of the run is, in the order the accountant composed them.
std::vector<std::string> release_names(const RunFacts& facts) {
  std::vector<std::string> names;
  if (facts.dp_bounds != nullptr) names.push_back(facts.dp_bounds->what);
  if (facts.dp_statistics != nullptr) names.push_back(facts.dp_statistics->what);
  if (facts.dp_vocabulary != nullptr) names.push_back(facts.dp_vocabulary->what);
  if (config::dataset_size_source(facts.recipe) == config::DatasetSizeSource::kDpCount)
    names.push_back("a Gaussian count of the training set's size (sensitivity 1)");
  return names;
}

// How the mechanism learned N (run::plan_dataset_size): never from the rows it read.
nlohmann::json dataset_size_json(const config::Recipe& recipe, const train::PrivacySummary& p) {
  switch (config::dataset_size_source(recipe)) {
    case config::DatasetSizeSource::kDeclared:
      return {{"value", p.plan.planning_size},
              {"source", "public"},
              {"note", "privacy.public_dataset_size: declared public, never read from the data"}};
    case config::DatasetSizeSource::kRecipe:
      return {{"value", p.plan.planning_size},
              {"source", "recipe"},
              {"note",
               "Fashion-MNIST's published 60,000 training images, cut by the recipe's "
               "data.train_subset and validation keys; never read from the data"}};
    case config::DatasetSizeSource::kReplaceOne:
      return {{"value", p.plan.planning_size},
              {"source", "replace_one"},
              {"note",
               "the training set's own size: under privacy.adjacency = replace_one neighbouring "
               "datasets have the same N, so it is public"}};
    case config::DatasetSizeSource::kDpCount:
      break;
  }
  return {{"value", p.plan.planning_size},
          {"source", "dp_count"},
          {"noise_multiplier", recipe.privacy.size_noise_multiplier()},
          {"note", "N + noise_multiplier * Z, composed in epsilon (privacy.preprocessing)"}};
}

}  // namespace

std::string planned_size_text(int64_t planned, bool dp_count) {
  return dp_count ? fmt::format("~{} (DP count)", planned)
                  : fmt::format("{} (public size)", planned);
}

std::string test_metrics_text(const nlohmann::json& report) {
  const auto number = [&report](const char* key) -> std::optional<double> {
    const auto found = report.find(key);
    if (found == report.end() || !found->is_number()) return std::nullopt;
    return found->get<double>();
  };
  std::vector<std::string> parts;
  const auto add = [&](const char* key, const char* format) {
    if (const auto value = number(key)) parts.push_back(fmt::format(fmt::runtime(format), *value));
  };
  if (number("test_rmse")) {
    add("test_rmse", "RMSE {:.4g}");
    add("test_mae", "MAE {:.4g}");
    add("test_r2", "R² {:.4f}");
    return fmt::format("{}", fmt::join(parts, ", "));
  }
  const bool binary = (report.contains("data") && report["data"].is_object() &&
                       report["data"].value("task", std::string()) == "binary") ||
                      number("test_auroc");
  if (binary) {
    add("test_auroc", "AUROC {:.4f}");
    add("test_auprc", "AUPRC {:.4f}");
    add("test_log_loss", "log-loss {:.4f}");
  }
  std::string accuracy = fmt::format("accuracy {:.2f}%", 100 * number("test_accuracy").value_or(0));
  if (const auto baseline = number("test_baseline_accuracy"))
    accuracy += fmt::format(" (majority class {:.2f}%)", 100 * *baseline);
  parts.push_back(accuracy);
  add("test_macro_f1", "macro-F1 {:.4f}");
  return fmt::format("{}", fmt::join(parts, ", "));
}

nlohmann::json privacy_json(const train::PrivacySummary& p,
                            const std::vector<std::string>& release_names) {
  const auto& plan = p.plan;
  const bool rdp = plan.accountant == privacy::AccountantKind::kRdp;
  return {{"enabled", true},
          {"epsilon", p.epsilon},
          {"delta", plan.delta},
          {"accountant", privacy::to_string(plan.accountant)},
          // The RDP order that gave ε; the PLD accountant has none.
          {"rdp_order", rdp ? nlohmann::json(p.rdp_order) : nlohmann::json(nullptr)},
          {"target_epsilon",
           plan.target_epsilon > 0 ? nlohmann::json(plan.target_epsilon) : nlohmann::json(nullptr)},
          {"noise_multiplier", plan.noise_multiplier},
          {"sample_rate", plan.sample_rate},
          {"expected_batch_size", plan.expected_batch_size},
          {"max_grad_norm", plan.clip.max_grad_norm()},
          {"clipping", dp::to_string(plan.clip.mode())},
          {"steps", p.steps},
          {"planned_steps", plan.planned_steps},
          {"stopped_by_budget", p.stopped_by_budget},
          {"sampling", "poisson"},
          {"adjacency", privacy::to_string(plan.adjacency)},
          {"train_metrics_private", false},
          {"secure_noise", p.secure_noise},
          {"preprocessing", preprocessing_json(plan.preprocessing, release_names)},
          // Within `delta`: what the DP vocabularies' thresholds spend; epsilon is the accountant's
          // at delta minus this.
          {"preprocessing_delta", plan.preprocessing_delta},
          // Within `delta` too: what the noise sampler's bounded support adds (docs/privacy.md).
          {"support_delta", plan.support_delta},
          {"accountant_state", p.accountant_state}};
}

nlohmann::json run_report(const RunFacts& facts) {
  const auto& recipe = facts.recipe;
  const auto& result = facts.result;
  nlohmann::json report;
  report["dpforge_version"] = DPFORGE_VERSION;
  report["recipe"] = {{"path", recipe.path},
                      {"name", recipe.run.name()},
                      {"hash", facts.recipe_hash},
                      {"values", typed_recipe_values(recipe)}};
  // The network as a layer string (docs/models.md); an embedded table's TabularEmbedding precedes
  // it.
  const auto model = facts.train_set != nullptr
                         ? nn::resolved(recipe.model, facts.train_set->example_shape())
                         : recipe.model;
  report["model"] = {
      {"arch", nn::to_string(model.arch())},
      {"layers", nn::preset_layers(model)},
      {"parameters", facts.parameters},
      {"init", model.init().empty() ? nlohmann::json(nullptr) : nlohmann::json(model.init())},
      {"trainable", model.trainable()}};
  report["device"] = facts.device;
  const bool builtin = config::resolved_format(recipe.data) == data::Format::kFashionMnist;
  report["data"] = {
      {"dataset", builtin ? "fashion-mnist" : recipe.data.train()},
      {"format", config::name_of(data::kFormatNames, config::resolved_format(recipe.data))},
      {"root", facts.data_root},
      {"train_examples", facts.train_examples},
      {"test_examples", facts.test_examples},
      {"validation_examples", facts.validation_examples},
      {"notes", facts.data_notes}};
  if (facts.dp_bounds != nullptr) {
    const auto& release = *facts.dp_bounds;
    report["data"]["dp_bounds"] = {
        {"what", release.what},
        {"mechanism", "gaussian_histogram"},
        {"noise_multiplier", release.noise_multiplier},
        {"sensitivity", release.sensitivity},
        {"threshold", release.threshold},
        {"columns", release.columns},
        {"lows", release.lows},
        {"highs", release.highs},
        {"covered_by_privacy_guarantee", true},
        {"note",
         "released under DP and composed in privacy.epsilon (privacy.preprocessing); each range "
         "runs between the outer edges of the outermost bins whose noisy count passed the "
         "threshold, and values outside it are clamped to it"}};
  }
  if (facts.dp_statistics != nullptr) {
    const auto& release = *facts.dp_statistics;
    report["data"]["dp_statistics"] = {
        {"what", release.what},
        {"mechanism", "gaussian"},
        {"noise_multiplier", release.noise_multiplier},
        {"sensitivity", release.sensitivity},
        {"columns", release.columns},
        {"means", release.means},
        {"stds", release.stds},
        {"covered_by_privacy_guarantee", true},
        {"note", "released under DP and composed in privacy.epsilon (privacy.preprocessing)"}};
  }
  if (facts.dp_vocabulary != nullptr) {
    const auto& release = *facts.dp_vocabulary;
    report["data"]["dp_vocabulary"] = {
        {"what", release.what},
        {"mechanism", "gaussian_thresholding"},
        {"noise_multiplier", release.noise_multiplier},
        {"sensitivity", release.sensitivity},
        {"threshold", release.threshold},
        {"delta", release.delta},
        {"columns", release.columns},
        {"vocabularies", release.vocabularies},
        {"covered_by_privacy_guarantee", true},
        {"note",
         "released under DP: the counts' Gaussian release is composed in privacy.epsilon "
         "(privacy.preprocessing), the threshold's delta is privacy.preprocessing_delta; a value "
         "outside a vocabulary is encoded as all zeros"}};
  }
  if (facts.train_set != nullptr) {
    const auto& train_set = *facts.train_set;
    report["data"]["task"] = data::to_string(train_set.task);
    report["data"]["classes"] = train_set.num_classes;
    report["data"]["example_shape"] = train_set.example_shape();
  }
  report["seed"] = facts.seed ? nlohmann::json(*facts.seed) : nlohmann::json(nullptr);
  report["reproducible"] = facts.seed.has_value();
  report["warnings"] = nlohmann::json::array();
  for (const auto& w : facts.warnings)
    report["warnings"].push_back({{"check", w.check}, {"brief", w.brief}, {"message", w.message}});
  report["privacy"] = facts.privacy != nullptr ? privacy_json(*facts.privacy, release_names(facts))
                                               : nlohmann::json{{"enabled", false}};
  if (facts.privacy != nullptr) {
    report["privacy"]["dataset_size"] = dataset_size_json(recipe, *facts.privacy);
    // The exact counts differ between neighbouring datasets: diagnostics, below.
    report["data"]["train_examples"] = nullptr;
    report["data"]["validation_examples"] = nullptr;
  }
  report["epochs"] = metrics_json(result);
  report["steps"] = result.steps;
  const train::EpochMetrics* last = result.epochs.empty() ? nullptr : &result.epochs.back();
  const bool regression = last != nullptr && last->test_rmse.has_value();
  report["test_accuracy"] =
      regression ? nlohmann::json(nullptr) : nlohmann::json(result.test_accuracy);
  // The metrics that fit the task (train/task_metrics.h); null where the task has none.
  const auto final_metric = [last](std::optional<double> train::EpochMetrics::*metric) {
    return last != nullptr ? train::json_or_null(last->*metric) : nlohmann::json(nullptr);
  };
  report["test_baseline_accuracy"] = final_metric(&train::EpochMetrics::test_baseline);
  report["test_log_loss"] =
      last != nullptr && !regression ? nlohmann::json(last->test_loss) : nlohmann::json(nullptr);
  report["test_auroc"] = final_metric(&train::EpochMetrics::test_auroc);
  report["test_auprc"] = final_metric(&train::EpochMetrics::test_auprc);
  report["test_macro_f1"] = final_metric(&train::EpochMetrics::test_macro_f1);
  report["test_rmse"] = final_metric(&train::EpochMetrics::test_rmse);
  report["test_mae"] = final_metric(&train::EpochMetrics::test_mae);
  report["test_r2"] = final_metric(&train::EpochMetrics::test_r2);
  report["wall_seconds"] = result.wall_seconds;
  report["versions"] = {{"dpforge", DPFORGE_VERSION},
                        {"libtorch", TORCH_VERSION},
                        {"fmt", FMT_VERSION},
                        {"compiler", __VERSION__}};
  report["stopped"] = !result.diverged.empty()        ? nlohmann::json(result.diverged)
                      : !result.stopped_early.empty() ? nlohmann::json(result.stopped_early)
                                                      : nlohmann::json(nullptr);
  report["resumed"] = facts.resumed;
  if (facts.privacy != nullptr) {
    const auto& diagnostics = result.diagnostics;
    report["diagnostics"] = {
        {"covered_by_privacy_guarantee", false},
        {"note",
         "computed from the private training data without noise: do not publish; the privacy "
         "guarantee covers the released weights only (docs/privacy.md)"},
        {"empty_batches", diagnostics.empty_batches},
        {"examples_dropped_nonfinite", diagnostics.examples_dropped_nonfinite},
        {"train_examples", facts.train_examples},
        {"validation_examples", facts.validation_examples},
        // The mechanism's contributions for a sample of examples against single-example autograd
        // (audit/sensitivity_check.h): their norms are the private examples' own.
        {"sensitivity_check", facts.privacy->sensitivity_check}};
  }
  return report;
}

}  // namespace dpforge::report
