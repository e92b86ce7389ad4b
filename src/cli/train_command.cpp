// SPDX-License-Identifier: Apache-2.0
#include <chrono>
#include <ctime>
#include <iostream>

#include <fmt/format.h>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/train/run.h"

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
  options.add_options()("help,h", "show this help")(
      "recipe", po::value<std::string>(), "recipe INI file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a recipe key: --set section.key=value (repeatable)")(
      "out", po::value<std::string>(), "output folder (default runs/<run.name>-<time>)");
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
  const auto overrides =
      values.count("set") != 0U ? values["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const auto recipe = config::load_recipe(values["recipe"].as<std::string>(), overrides);
  const std::filesystem::path out_dir =
      values.count("out") != 0U ? std::filesystem::path(values["out"].as<std::string>())
                                : std::filesystem::path("runs") / (recipe.run.name() + "-" + timestamp());

  const auto outcome = train::run_training(recipe, out_dir, stderr);
  const auto& privacy = outcome.report["privacy"];
  const std::string privacy_line =
      privacy["enabled"].get<bool>()
          ? fmt::format("({:.4g}, {:g})-DP by the {} accountant (sigma {:.4g}, q {:.4g}, {} steps){}",
                        privacy["epsilon"].get<double>(), privacy["delta"].get<double>(),
                        privacy["accountant"].get<std::string>(),
                        privacy["noise_multiplier"].get<double>(), privacy["sample_rate"].get<double>(),
                        privacy["steps"].get<int64_t>(),
                        outcome.report["reproducible"].get<bool>()
                            ? "; seeded run: reproducible, so its noise is known - not for release"
                            : "")
          : std::string("none (non-private training)");
  fmt::print("{}: test accuracy {:.2f}% after {} steps in {:.1f}s\nprivacy: {}\nreport: {}\n",
             recipe.run.name(), 100 * outcome.result.test_accuracy, outcome.result.steps,
             outcome.result.wall_seconds, privacy_line, (out_dir / "report.json").string());
  return kExitOk;
}

}  // namespace dpforge::cli
