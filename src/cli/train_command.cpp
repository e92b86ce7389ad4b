// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/run/run.h"

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

}  // namespace

int train_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge train RECIPE [options]");
  options.add_options()("help,h", "show this help")("recipe", po::value<std::string>(),
                                                    "recipe INI file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a recipe key: --set section.key=value (repeatable)")(
      "out", po::value<std::string>(), "output folder (default runs/<run.name>-<time>)")(
      "resume", po::value<std::string>(),
      "continue the unfinished run in this folder from its newest intact checkpoint (same recipe)");
  po::positional_options_description positional;
  positional.add("recipe", 1);
  const auto values = parse_args("train", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("recipe") == 0U) {
    throw_input_error("dpforge train: missing RECIPE (an INI file, e.g. recipes/quickstart.ini)");
  }
  const auto overrides = values.count("set") != 0U ? values["set"].as<std::vector<std::string>>()
                                                   : std::vector<std::string>{};
  const auto recipe = config::load_recipe(values["recipe"].as<std::string>(), overrides);
  const bool resume = values.count("resume") != 0U;
  if (resume && values.count("out") != 0U) {
    throw_input_error(
        "dpforge train: give either --out DIR (a new run) or --resume DIR (an unfinished one), not "
        "both");
  }
  const std::filesystem::path out_dir =
      resume ? std::filesystem::path(values["resume"].as<std::string>())
      : values.count("out") != 0U
          ? std::filesystem::path(values["out"].as<std::string>())
          : std::filesystem::path("runs") / (recipe.run.name() + "-" + timestamp());

  const auto outcome = run::run_training(recipe, out_dir, stderr, resume);
  const auto& privacy = outcome.report["privacy"];
  const std::string privacy_line =
      privacy["enabled"].get<bool>()
          ? fmt::format(
                "{}({:.4g}, {:g})-DP by the {} accountant (sigma {:.4g}, q {:.4g}, {} steps){}",
                privacy["fault"] != "none" ? "NOT PRIVATE (fault injected); would claim " : "",
                privacy["epsilon"].get<double>(), privacy["delta"].get<double>(),
                privacy["accountant"].get<std::string>(), privacy["noise_multiplier"].get<double>(),
                privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>(),
                outcome.report["reproducible"].get<bool>()
                    ? "; seeded run: reproducible, so its noise is known - not for release"
                    : "")
          : std::string("none (non-private training)");
  fmt::print("{}: test accuracy {:.2f}% after {} steps in {:.1f}s\nprivacy: {}\n",
             recipe.run.name(), 100 * outcome.result.test_accuracy, outcome.result.steps,
             outcome.result.wall_seconds, privacy_line);
  const auto& audit = outcome.report["audit"];
  int exit_code = kExitOk;
  if (audit["enabled"].get<bool>()) {
    const auto& bounds = audit["epsilon_lower_bound"];
    fmt::print(
        "audit: empirical epsilon lower bound {:.3f} (one-run {:.3f}, f-DP {:.3f}; {:g}% "
        "confidence, "
        "{} canaries) vs claimed {:.3f}: {}\n",
        audit["epsilon_lower_bound_best"].get<double>(), bounds["one_run_steinke"].get<double>(),
        bounds["one_run_fdp"].get<double>(), 100 * audit["confidence"].get<double>(),
        audit["canaries"].get<int64_t>(), audit["accountant_epsilon"].get<double>(),
        audit["status"].get<std::string>());
    if (audit.contains("input_canaries")) {
      const auto& input = audit["input_canaries"];
      fmt::print("audit (black-box, {} input canaries): lower bound {:.3f} vs claimed {:.3f}: {}\n",
                 input["canaries"].get<int64_t>(), input["epsilon_lower_bound_best"].get<double>(),
                 input["accountant_epsilon"].get<double>(), input["status"].get<std::string>());
    }
    const auto& conformance = audit["conformance"];
    fmt::print(
        "audit: measured noise std / claimed {:.3f} (z = {:.1f}); canary update mean {:.4f} vs "
        "q = {:.4f} (z = {:.1f})\n",
        conformance["noise_std_measured_over_claimed"].get<double>(),
        conformance["noise_z"].get<double>(), conformance["member_update_mean"].get<double>(),
        conformance["claimed_sample_rate"].get<double>(),
        conformance["sampling_and_clipping_z"].get<double>());
    if (audit["status"] == "violation") {
      fmt::print(
          stderr,
          "\n!!! PRIVACY VIOLATION: the run does not behave like the mechanism it claims.\n");
      if (audit["epsilon_lower_bound_best"].get<double>() >
          audit["accountant_epsilon"].get<double>()) {
        fmt::print(stderr,
                   "!!! The audit proves epsilon >= {:.3f} with {:g}% confidence, above the "
                   "claimed {:.3f}.\n",
                   audit["epsilon_lower_bound_best"].get<double>(),
                   100 * audit["confidence"].get<double>(),
                   audit["accountant_epsilon"].get<double>());
      }
      if (!conformance["noise_ok"].get<bool>())
        fmt::print(stderr, "!!! Less noise than claimed was added.\n");
      if (audit.contains("input_canaries") && audit["input_canaries"]["status"] == "violation") {
        fmt::print(stderr,
                   "!!! The black-box audit with input canaries proves epsilon >= {:.3f}, above "
                   "the claim.\n",
                   audit["input_canaries"]["epsilon_lower_bound_best"].get<double>());
      }
      if (!conformance["sampling_and_clipping_ok"].get<bool>()) {
        fmt::print(stderr, "!!! Canaries were sampled more often than q or not clipped to C.\n");
      }
      fmt::print(
          stderr,
          "!!! The implementation or its configuration is broken; do not release this model.\n\n");
      exit_code = kExitAuditViolation;
    }
  } else {
    fmt::print("audit: skipped ({})\n", audit["reason"].get<std::string>());
  }
  const auto& mia = outcome.report["mia"];
  fmt::print(
      "membership inference (black-box, {} train vs {} test examples): LOSS AUROC {:.3f}, "
      "TPR {:.4f} at 0.1% FPR; modified entropy AUROC {:.3f}\n",
      mia["members"].get<int64_t>(), mia["non_members"].get<int64_t>(),
      mia["loss"]["auroc"].get<double>(), mia["loss"]["tpr_at_fpr"]["0.001"].get<double>(),
      mia["modified_entropy"]["auroc"].get<double>());
  if (privacy["enabled"].get<bool>() && privacy["fault"] != "none") {
    fmt::print(stderr, "NOTE: privacy.fault = {} was injected: this model is NOT private.\n",
               privacy["fault"].get<std::string>());
  }
  fmt::print("report: {}\n", (out_dir / "report.json").string());
  return exit_code;
}

}  // namespace dpforge::cli
