// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/privacy/printing.h"
#include "dpforge/report/run_report.h"
#include "dpforge/run/run.h"
#include "dpforge/run/run_folder.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &local);
  return text;
}

// Frozen layers are released as their initial weights: the claim covers the trained ones.
std::string frozen_text(const nlohmann::json& model) {
  const auto frozen = model.value("frozen_parameters", int64_t{0});
  if (frozen == 0) return "";
  return fmt::format(
      "; trains only {} (model.trainable = {}), the other {} parameters are the "
      "initial weights unchanged",
      fmt::join(model["trained"].get<std::vector<std::string>>(), ", "),
      model["trainable"].get<std::string>(), frozen);
}

// The claim in one line: (ε, δ), the adjacency it holds under, the mechanism, the size it was
// planned with and the releases composed before training.
std::string privacy_line(const nlohmann::json& report) {
  const auto& privacy = report["privacy"];
  if (!privacy["enabled"].get<bool>()) return "none (non-private training)";
  const auto& size = privacy["dataset_size"];
  const auto init = report["model"].value("init", nlohmann::json(nullptr));
  std::vector<std::string> releases;
  for (const auto& release : privacy["preprocessing"])
    releases.push_back(fmt::format("{} at sigma {:.4g}", release["what"].get<std::string>(),
                                   release["noise_multiplier"].get<double>()));
  return fmt::format(
      "({}, {:g})-DP under {} adjacency by the {} accountant (sigma {:.4g}, q {:.4g}, "
      "{} steps, N {}){}{}{}{}",
      privacy::upper_significant(privacy["epsilon"].get<double>(), 4),
      privacy["delta"].get<double>(),
      privacy["adjacency"] == "replace_one" ? "replace-one" : "add/remove",
      privacy["accountant"].get<std::string>(), privacy["noise_multiplier"].get<double>(),
      privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>(),
      size["source"] == "dp_count"
          ? fmt::format("~{} by a DP count", size["value"].get<int64_t>())
          : fmt::format("{} {}", size["value"].get<int64_t>(),
                        size["source"] == "recipe"        ? "from the recipe"
                        : size["source"] == "replace_one" ? "public under replace-one"
                                                          : "declared public"),
      releases.empty() ? "" : fmt::format("; composes {}", fmt::join(releases, ", ")),
      init.is_string() ? fmt::format("; from the initial weights of {}, which must not depend "
                                     "on the private data",
                                     init.get<std::string>())
                       : "",
      frozen_text(report["model"]),
      report["reproducible"].get<bool>()
          ? "; seeded run: reproducible, so its noise is known - not for release"
          : "");
}

// report.json writes NaN as null.
double number_or_nan(const nlohmann::json& value) {
  return value.is_number() ? value.get<double>() : std::nan("");
}

// The audit's numbers: the bounds at the reported confidence, then the verdict's tests.
void print_audit(const nlohmann::json& audit) {
  const auto& bounds = audit["epsilon_lower_bound"];
  fmt::print(
      "audit: epsilon lower bounds at {:g}% confidence: one-run {:.3f}, f-DP {:.3f} ({} canaries) "
      "vs claimed {:.3f}\n",
      100 * audit["confidence"].get<double>(), bounds["one_run_steinke"].get<double>(),
      bounds["one_run_fdp"].get<double>(), audit["canaries"].get<int64_t>(),
      audit["accountant_epsilon"].get<double>());
  if (audit.contains("input_canaries")) {
    const auto& input = audit["input_canaries"];
    fmt::print("audit (black-box, {} input canaries): lower bound {:.3f} vs claimed {:.3f}\n",
               input["canaries"].get<int64_t>(), input["epsilon_lower_bound_best"].get<double>(),
               input["accountant_epsilon"].get<double>());
  }
  const auto& tests = audit["verdict"]["tests"];
  fmt::print(
      "audit: verdict at family-wise level {:g}: {} (noise std measured/claimed {:.3f}, z = "
      "{:.1f}; "
      "canary update mean {:.4f} vs q = {:.4f}, z = {:.1f})\n",
      audit["verdict"]["family_wise_level"].get<double>(), audit["status"].get<std::string>(),
      tests["noise"]["noise_std_measured_over_claimed"].get<double>(),
      tests["noise"]["z"].get<double>(),
      tests["sampling_and_clipping"]["member_update_mean"].get<double>(),
      tests["sampling_and_clipping"]["claimed_sample_rate"].get<double>(),
      tests["sampling_and_clipping"]["z"].get<double>());
}

// The sensitivity check's line; true when it flagged the run (then also what it saw, on stderr).
bool print_sensitivity_check(const nlohmann::json& check) {
  fmt::print(
      "sensitivity check: {} ({} examples at {} step{}; largest contribution {:.6f} C, largest "
      "mismatch with single-example autograd {:.2e} C)\n",
      check["status"].get<std::string>(), check["checked_examples"].get<int64_t>(),
      check["checked_steps"].get<int64_t>(), check["checked_steps"] == 1 ? "" : "s",
      number_or_nan(check["max_contribution_over_bound"]),
      check.contains("worst") ? number_or_nan(check["worst"]["mismatch_over_bound"]) : 0.0);
  if (!check.contains("violation")) return false;
  const auto& found = check["violation"];
  std::string where;
  for (const auto& layer : found["layers"]) {
    if (layer["layer"] != found["worst_layer"]) continue;
    const auto name = layer["layer"].get<std::string>();
    where = fmt::format(
        "layer '{}' contributed {:.6g} where its own clipped gradient is {:.6g}{}",
        name.empty() ? "(the model)" : name, number_or_nan(layer["mechanism"]),
        number_or_nan(layer["reference"]),
        found["scaled_alike"].get<bool>()
            ? " (every layer by the same ratio: the example's norm, hence its clip factor, is "
              "wrong)"
            : "");
  }
  fmt::print(stderr,
             "\n!!! PRIVACY VIOLATION: the sensitivity check failed at step {}, example {}: what "
             "the mechanism added for that example is {:.6g}x its bound (C; C/sqrt(L) per layer "
             "under per-layer clipping; tolerance {:g}) and differs "
             "from the example's own clipped gradient (single-example autograd) by {:.4g} C "
             "(tolerance {:g}); {}.\n"
             "!!! The per-example gradient, norm or clipping code is wrong for this model: do "
             "not release it.\n\n",
             found["step"].get<int64_t>(), found["example"].get<int64_t>(),
             number_or_nan(found["contribution_over_bound"]),
             check["bound_tolerance"].get<double>(), number_or_nan(found["mismatch_over_bound"]),
             check["mismatch_tolerance"].get<double>(), where);
  return true;
}

// One line per test that flagged the run, saying what it proves.
void print_violation(const nlohmann::json& audit) {
  fmt::print(stderr,
             "\n!!! PRIVACY VIOLATION: the run does not behave like the mechanism it claims.\n");
  // A gate tests the point (ε', δ') of the accountant's profile, not (ε, δ): docs/auditing.md.
  auto print_bound_flags = [](const nlohmann::json& tests, const char* who) {
    for (const auto& [name, bound] :
         {std::pair{"one_run_steinke", "one-run bound"}, std::pair{"one_run_fdp", "f-DP bound"}}) {
      if (!tests.contains(name) || !tests[name]["flags"].get<bool>()) continue;
      const auto& gate = tests[name];
      fmt::print(
          stderr,
          "!!! {} ({}) proves epsilon >= {:.3f} at delta {:.2g} (significance {:.2g}), above "
          "the accountant's {:.3f} at that delta.\n",
          who, bound, gate["epsilon_lower_bound"].get<double>(), gate["delta"].get<double>(),
          gate["significance"].get<double>(), gate["claimed_epsilon"].get<double>());
    }
  };
  const auto& tests = audit["verdict"]["tests"];
  print_bound_flags(tests, "The white-box audit");
  if (tests.contains("accountant") && tests["accountant"]["flags"].get<bool>()) {
    fmt::print(stderr,
               "!!! The accountant composed {} but the mechanism ran {}: its epsilon is not "
               "this run's.\n",
               tests["accountant"]["composed"].dump(), tests["accountant"]["mechanism"].dump());
  }
  // Both conformance tests are two-sided (docs/auditing.md): the sign of z says which way.
  if (tests["noise"]["flags"].get<bool>()) {
    const double z = tests["noise"]["z"].get<double>();
    fmt::print(stderr, "!!! {} noise than claimed was added (z = {:.1f}).\n",
               z < 0 ? "Less" : "More", z);
  }
  if (tests["sampling_and_clipping"]["flags"].get<bool>()) {
    const double z = tests["sampling_and_clipping"]["z"].get<double>();
    fmt::print(stderr, "!!! Canaries were {} (z = {:.1f}).\n",
               z > 0 ? "sampled more often than q or not clipped to C"
                     : "sampled less often than q or shrunk after clipping (as when the step's sum "
                       "is clipped once instead of each example)",
               z);
  }
  if (audit.contains("input_canaries")) {
    const auto& input = audit["input_canaries"];
    print_bound_flags(input["verdict"]["tests"], "The black-box audit with input canaries");
  }
  fmt::print(
      stderr,
      "!!! The implementation or its configuration is broken; do not release this model.\n\n");
}

}  // namespace

int train_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge train RECIPE [--set key=value]... [--out DIR] | dpforge train --resume DIR");
  options.add_options()("help,h", "show this help")("recipe", po::value<std::string>(),
                                                    "recipe INI file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a recipe key: --set section.key=value (repeatable)")(
      "out", po::value<std::string>(), "output folder (default runs/<run.name>-<time>)")(
      "resume", po::value<std::string>(),
      "continue the unfinished run in this folder from its newest intact checkpoint, with the "
      "recipe it stored (a RECIPE or --set given too must agree with it)")(
      "concurrent-runs", po::value<int64_t>()->default_value(1),
      "this run shares the CPUs it may use with this many runs in all, started beside it (sweep "
      "--jobs passes it): an automatic run.threads takes this run's share");
  po::positional_options_description positional;
  positional.add("recipe", 1);
  const auto values = parse_args("train", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  const bool resume = values.count("resume") != 0U;
  if (resume && values.count("out") != 0U) {
    throw_input_error(
        "dpforge train: give either --out DIR (a new run) or --resume DIR (an unfinished one), not "
        "both");
  }
  if (values.count("recipe") == 0U && !resume) {
    throw_input_error(
        "dpforge train: missing RECIPE (an INI file, e.g. recipes/quickstart.ini), or --resume DIR "
        "to continue an unfinished run");
  }
  const auto overrides = values.count("set") != 0U ? values["set"].as<std::vector<std::string>>()
                                                   : std::vector<std::string>{};
  const std::optional<std::string> recipe_path =
      values.count("recipe") != 0U ? std::optional(values["recipe"].as<std::string>())
                                   : std::nullopt;
  const auto recipe =
      resume ? run::resume_recipe(values["resume"].as<std::string>(), recipe_path, overrides)
             : config::load_recipe(*recipe_path, overrides);
  const std::filesystem::path out_dir =
      resume ? std::filesystem::path(values["resume"].as<std::string>())
      : values.count("out") != 0U
          ? std::filesystem::path(values["out"].as<std::string>())
          : std::filesystem::path("runs") / (recipe.run.name() + "-" + timestamp());

  const int64_t concurrent_runs = values["concurrent-runs"].as<int64_t>();
  if (concurrent_runs < 1 || concurrent_runs > 1024)
    throw_input_error(
        "dpforge train: --concurrent-runs {} is invalid: expected an integer in [1, 1024]",
        concurrent_runs);
  const auto outcome = run::run_training(recipe, out_dir, stderr, resume, concurrent_runs);
  const auto& privacy = outcome.report["privacy"];
  const std::string claim = privacy_line(outcome.report);
  const std::string score = "test " + report::test_metrics_text(outcome.report);
  fmt::print("{}: {} after {} steps in {:.1f}s\nprivacy: {}\n", recipe.run.name(), score,
             outcome.result.steps, outcome.result.wall_seconds, claim);
  const auto& audit = outcome.report["audit"];
  int exit_code = kExitOk;
  if (privacy["enabled"].get<bool>() &&
      print_sensitivity_check(outcome.report["diagnostics"]["sensitivity_check"]))
    exit_code = kExitAuditViolation;
  if (audit["enabled"].get<bool>()) {
    print_audit(audit);
    if (audit["status"] == "violation") {
      print_violation(audit);
      exit_code = kExitAuditViolation;
    }
  } else {
    fmt::print("audit: skipped ({})\n", audit["reason"].get<std::string>());
  }
  const auto& mia = outcome.report["mia"];
  const bool resolved = mia["loss"]["tpr_at_fpr_resolved"]["0.001"].get<bool>();
  fmt::print(
      "membership inference (black-box, {} train vs {} test examples): LOSS AUROC {:.3f}, "
      "TPR {:.4f} at 0.1% FPR{}{}\n",
      mia["members"].get<int64_t>(), mia["non_members"].get<int64_t>(),
      mia["loss"]["auroc"].get<double>(), mia["loss"]["tpr_at_fpr"]["0.001"].get<double>(),
      resolved ? "" : " (unresolved: 0.1% of these non-members is under 10 examples)",
      mia.contains("modified_entropy") ? fmt::format("; modified entropy AUROC {:.3f}",
                                                     mia["modified_entropy"]["auroc"].get<double>())
                                       : "");
  fmt::print("report: {}\n", (out_dir / "report.json").string());
  return exit_code;
}

}  // namespace dpforge::cli
