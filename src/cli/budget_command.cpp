// SPDX-License-Identifier: Apache-2.0
// `dpforge budget` (σ → ε) and `dpforge calibrate` (ε → σ) over the privacy accountants.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/calibration.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

struct Common {
  double sample_rate = 0;
  double delta = 0;
  int64_t steps = 0;
  std::vector<std::string> accountants;
  std::vector<double> rdp_orders;
  bool json = false;
};

void add_common_options(po::options_description& options) {
  options.add_options()("help,h", "show this help")(
      "sample-rate", po::value<double>(), "Poisson sampling rate q in (0, 1] (expected batch / N)")(
      "delta", po::value<double>(), "delta in (0, 1); choose delta << 1/N")(
      "steps", po::value<int64_t>(), "number of DP-SGD steps (>= 1)")(
      "epochs", po::value<double>(), "epochs instead of --steps: steps = ceil(epochs / q)")(
      "dataset-size", po::value<int64_t>(), "N, with --epochs; also warns when delta >= 1/N")(
      "accountant", po::value<std::string>()->default_value("all"), "pld | rdp | all")(
      "rdp-orders", po::value<std::string>()->default_value("default"),
      "RDP order grid: default (dp_accounting's 156 orders) | opacus (Opacus's 151) | integer "
      "(2..63, 128, 256, 512, 1024): the latter two to compare digits with those libraries")(
      "json", "print one JSON object on stdout");
}

double required_double(const po::variables_map& values, const char* name, const char* command) {
  if (values.count(name) == 0U) throw_input_error("dpforge {}: --{} is required", command, name);
  return values[name].as<double>();
}

Common read_common(const po::variables_map& values, const char* command) {
  Common common;
  common.sample_rate = required_double(values, "sample-rate", command);
  if (!(common.sample_rate > 0 && common.sample_rate <= 1)) {
    throw_input_error("dpforge {}: --sample-rate {} is invalid: allowed (0, 1]", command,
                      common.sample_rate);
  }
  common.delta = required_double(values, "delta", command);
  if (!(common.delta > 0 && common.delta < 1)) {
    throw_input_error("dpforge {}: --delta {} is invalid: allowed (0, 1)", command, common.delta);
  }
  const bool has_steps = values.count("steps") != 0U, has_epochs = values.count("epochs") != 0U;
  if (has_steps == has_epochs) {
    throw_input_error("dpforge {}: give exactly one of --steps or --epochs (with --dataset-size)",
                      command);
  }
  if (has_steps) {
    common.steps = values["steps"].as<int64_t>();
  } else {
    const double epochs = values["epochs"].as<double>();
    if (values.count("dataset-size") == 0U) {
      throw_input_error("dpforge {}: --epochs needs --dataset-size", command);
    }
    if (!(epochs > 0))
      throw_input_error("dpforge {}: --epochs {} is invalid: allowed > 0", command, epochs);
    common.steps = privacy::steps_for_epochs(epochs, common.sample_rate);
  }
  if (common.steps < 1) {
    throw_input_error("dpforge {}: --steps {} is invalid: allowed integers >= 1", command,
                      common.steps);
  }
  if (values.count("dataset-size") != 0U) {
    const int64_t n = values["dataset-size"].as<int64_t>();
    if (n < 1)
      throw_input_error("dpforge {}: --dataset-size {} is invalid: allowed >= 1", command, n);
    if (common.delta >= 1.0 / static_cast<double>(n)) {
      fmt::print(stderr,
                 "dpforge {}: warning: delta = {} >= 1/N = {:.3g}: a mechanism that publishes one "
                 "random record outright meets this delta; use delta << 1/N\n",
                 command, common.delta, 1.0 / static_cast<double>(n));
    }
  }
  const std::string accountant = values["accountant"].as<std::string>();
  if (accountant == "all") {
    for (const auto& [kind, name] : privacy::kAccountantNames.entries)
      common.accountants.emplace_back(name);
  } else {
    if (!privacy::kAccountantNames.parse(accountant)) {
      throw_input_error("dpforge {}: --accountant {} is invalid: allowed {}, all", command,
                        accountant, privacy::kAccountantNames.allowed());
    }
    common.accountants = {accountant};
  }
  const std::string grid = values["rdp-orders"].as<std::string>();
  if (grid == "opacus") {
    common.rdp_orders = privacy::opacus_rdp_orders();
  } else if (grid == "integer") {
    for (const double order : privacy::default_rdp_orders()) {
      if (order == std::floor(order)) common.rdp_orders.push_back(order);
    }
  } else if (grid == "default") {
    common.rdp_orders = privacy::default_rdp_orders();
  } else {
    throw_input_error("dpforge {}: --rdp-orders {} is invalid: allowed default, opacus, integer",
                      command, grid);
  }
  common.json = values.count("json") != 0U;
  return common;
}

std::unique_ptr<privacy::Accountant> make(const std::string& name, const Common& common) {
  if (name == "rdp") return std::make_unique<privacy::RdpAccountant>(common.rdp_orders);
  return privacy::make_accountant(name);
}

nlohmann::json setting_json(const Common& common) {
  return {{"sample_rate", common.sample_rate}, {"delta", common.delta}, {"steps", common.steps}};
}

}  // namespace

int budget_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge budget: epsilon spent by DP-SGD");
  add_common_options(options);
  options.add_options()("noise-multiplier", po::value<double>(),
                        "sigma > 0 (noise std / clip norm)");
  const auto values = parse_args("budget", args, options);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  const Common common = read_common(values, "budget");
  const double sigma = required_double(values, "noise-multiplier", "budget");
  if (!(sigma > 0))
    throw_input_error("dpforge budget: --noise-multiplier {} is invalid: allowed > 0", sigma);

  auto result = setting_json(common);
  result["noise_multiplier"] = sigma;
  for (const auto& name : common.accountants) {
    auto accountant = make(name, common);
    accountant->compose(sigma, common.sample_rate, common.steps);
    nlohmann::json entry = {{"epsilon", accountant->epsilon(common.delta)}};
    if (const auto* rdp = dynamic_cast<const privacy::RdpAccountant*>(accountant.get())) {
      const auto best = rdp->epsilon_and_order(common.delta);
      entry["order"] = best.order;
      entry["conversion"] = to_string(privacy::RdpConversion::kImproved);
    }
    result["epsilon"][name] = entry;
  }
  if (common.json) {
    fmt::print("{}\n", result.dump());
    return kExitOk;
  }
  fmt::print("q = {}, sigma = {}, steps = {}, delta = {}\n", common.sample_rate, sigma,
             common.steps, common.delta);
  for (const auto& [name, entry] : result["epsilon"].items()) {
    fmt::print("  {:<4} epsilon = {:.6f}{}\n", name, entry["epsilon"].get<double>(),
               entry.contains("order")
                   ? fmt::format("  (optimal order {})", entry["order"].get<double>())
                   : std::string());
  }
  return kExitOk;
}

int calibrate_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge calibrate: noise multiplier for a target epsilon");
  add_common_options(options);
  options.add_options()("target-epsilon", po::value<double>(), "target epsilon > 0");
  const auto values = parse_args("calibrate", args, options);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  const Common common = read_common(values, "calibrate");
  const double target = required_double(values, "target-epsilon", "calibrate");
  if (!(target > 0))
    throw_input_error("dpforge calibrate: --target-epsilon {} is invalid: allowed > 0", target);

  auto result = setting_json(common);
  result["target_epsilon"] = target;
  for (const auto& name : common.accountants) {
    double sigma = 0;
    try {
      sigma = privacy::calibrate_noise_multiplier([&] { return make(name, common); }, target,
                                                  common.delta, common.sample_rate, common.steps);
    } catch (const std::domain_error& error) {
      throw_input_error("dpforge calibrate: target epsilon {} is unreachable: {}", target,
                        error.what());
    }
    result["noise_multiplier"][name] = {
        {"noise_multiplier", sigma},
        {"epsilon", privacy::epsilon_for([&] { return make(name, common); }, sigma,
                                         common.sample_rate, common.steps, common.delta)}};
  }
  if (common.json) {
    fmt::print("{}\n", result.dump());
    return kExitOk;
  }
  fmt::print("target epsilon = {}, q = {}, steps = {}, delta = {}\n", target, common.sample_rate,
             common.steps, common.delta);
  for (const auto& [name, entry] : result["noise_multiplier"].items()) {
    fmt::print("  {:<4} noise_multiplier = {:.6f}  (epsilon {:.6f})\n", name,
               entry["noise_multiplier"].get<double>(), entry["epsilon"].get<double>());
  }
  return kExitOk;
}

}  // namespace dpforge::cli
