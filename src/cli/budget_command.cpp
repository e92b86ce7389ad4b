// SPDX-License-Identifier: Apache-2.0
// `dpforge budget` (σ → ε, or δ for an ε) and `dpforge calibrate` (ε → σ) over the privacy
// accountants, for one run length or a table of them.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "args.h"
#include "budget_options.h"
#include "commands.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/printing.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

nlohmann::json setting_json(const BudgetSetting& setting) {
  nlohmann::json json = {{"sample_rate", setting.sample_rate},
                         {"adjacency", privacy::to_string(setting.adjacency)}};
  if (setting.batch_size) json["batch_size"] = *setting.batch_size;
  if (setting.dataset_size) json["dataset_size"] = *setting.dataset_size;
  if (setting.delta) json["delta"] = *setting.delta;
  return json;
}

nlohmann::json length_json(const RunLength& length) {
  nlohmann::json json = {{"steps", length.steps}};
  if (length.epochs) json["epochs"] = *length.epochs;
  return json;
}

std::string rate_text(const BudgetSetting& setting) {
  return (setting.batch_size ? fmt::format("q = {}/{} = {:.6g}", *setting.batch_size,
                                           *setting.dataset_size, setting.sample_rate)
                             : fmt::format("q = {}", setting.sample_rate)) +
         (setting.adjacency == privacy::Adjacency::kReplaceOne ? " (replace-one)" : "");
}

std::string length_text(const RunLength& length) {
  return length.epochs ? fmt::format("{} ({:g} epochs)", length.steps, *length.epochs)
                       : std::to_string(length.steps);
}

// A single setting keeps the flat form scripts read (`.epsilon.pld.epsilon`); a table puts one
// such object per length under "rows".
nlohmann::json rows_json(nlohmann::json head, const std::vector<nlohmann::json>& rows) {
  if (rows.size() == 1) {
    head.update(rows.front());
    return head;
  }
  head["rows"] = rows;
  return head;
}

// The table form: one line per length, one column per accountant.
void print_table(const BudgetSetting& setting, const std::vector<nlohmann::json>& rows,
                 const std::string& column, const auto& cell) {
  std::string header = fmt::format("{:>10} {:>8}", "steps", "epochs");
  for (const auto& name : setting.accountants)
    header += fmt::format(" {:>22}", fmt::format("{} {}", name, column));
  fmt::print("{}\n", header);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& length = setting.lengths[i];
    std::string line = fmt::format("{:>10} {:>8}", length.steps,
                                   length.epochs ? fmt::format("{:g}", *length.epochs) : "-");
    for (const auto& name : setting.accountants)
      line += fmt::format(" {:>22}", cell(rows[i], name));
    fmt::print("{}\n", line);
  }
}

// ε at δ, or δ at ε, of `length` steps at (σ, q) for every accountant of the setting.
nlohmann::json budget_row(const BudgetSetting& setting, const RunLength& length, double sigma,
                          std::optional<double> epsilon) {
  auto row = length_json(length);
  for (const auto& name : setting.accountants) {
    auto accountant = setting.accountant(name);
    accountant->compose(sigma, setting.sample_rate, length.steps);
    if (epsilon) {
      row["delta"][name] = {{"delta", accountant->delta(*epsilon)}};
      continue;
    }
    nlohmann::json entry = {{"epsilon", accountant->epsilon(*setting.delta)}};
    if (const auto* rdp = dynamic_cast<const privacy::RdpAccountant*>(accountant.get())) {
      entry["order"] = rdp->epsilon_and_order(*setting.delta).order;
      entry["conversion"] = to_string(privacy::RdpConversion::kImproved);
    }
    row["epsilon"][name] = entry;
  }
  return row;
}

// δ ≥ 1/N is met by a mechanism that publishes one random example outright.
void warn_large_deltas(const std::vector<nlohmann::json>& rows, int64_t dataset_size) {
  const double limit = 1.0 / static_cast<double>(dataset_size);
  for (const auto& row : rows) {
    for (const auto& [name, entry] : row["delta"].items()) {
      const double delta = entry["delta"].get<double>();
      if (delta < limit) continue;
      fmt::print(stderr,
                 "dpforge budget: warning: {} delta = {} over {} steps is >= 1/N = {:.3g}: a "
                 "mechanism that publishes one random record outright meets it\n",
                 name, privacy::upper_significant(delta, 4), row["steps"].get<int64_t>(), limit);
    }
  }
}

void print_budget(const BudgetSetting& setting, const std::vector<nlohmann::json>& rows,
                  double sigma, std::optional<double> epsilon) {
  const std::string given =
      epsilon ? fmt::format("epsilon = {}", *epsilon) : fmt::format("delta = {}", *setting.delta);
  const char* answer = epsilon ? "delta" : "epsilon";
  if (rows.size() > 1) {
    fmt::print("{}, sigma = {}, {}\n", rate_text(setting), sigma, given);
    print_table(setting, rows, answer, [&](const nlohmann::json& row, const std::string& name) {
      const double value = row[answer][name][answer].get<double>();
      return epsilon ? privacy::upper_significant(value, 4) : privacy::upper_fixed(value, 6);
    });
    return;
  }
  fmt::print("{}, sigma = {}, steps = {}, {}\n", rate_text(setting), sigma,
             length_text(setting.lengths.front()), given);
  for (const auto& [name, entry] : rows.front()[answer].items()) {
    const double value = entry[answer].get<double>();
    fmt::print("  {:<4} {} = {}{}\n", name, answer,
               epsilon ? privacy::upper_significant(value, 6) : privacy::upper_fixed(value, 6),
               entry.contains("order")
                   ? fmt::format("  (optimal order {})", entry["order"].get<double>())
                   : std::string());
  }
}

// σ as printed and as stored: rounded up at kSigmaDigits significant digits, never to nearest, so
// a value copied into a recipe meets the target (a larger σ only lowers ε); its ε is re-accounted.
constexpr int kSigmaDigits = 6;

nlohmann::json calibrated_entry(const privacy::AccountantFactory& factory, double sigma,
                                const BudgetSetting& setting, int64_t steps, double target) {
  std::string text = privacy::upper_significant(sigma, kSigmaDigits);
  double epsilon = 0;
  // ε is antitone in σ, so one step up suffices; the loop guards against a non-monotone numeric.
  for (int attempt = 0;; ++attempt) {
    epsilon =
        privacy::epsilon_for(factory, std::stod(text), setting.sample_rate, steps, *setting.delta);
    if (epsilon <= target || attempt == 8) break;
    text = privacy::upper_significant(std::stod(text) * (1 + std::pow(10.0, 1 - kSigmaDigits)),
                                      kSigmaDigits);
  }
  if (epsilon > target) {
    throw std::logic_error(fmt::format(
        "calibrate: sigma {} reads back epsilon {} above the target {}", text, epsilon, target));
  }
  return {{"noise_multiplier", std::stod(text)}, {"epsilon", epsilon}};
}

nlohmann::json calibrate_row(const BudgetSetting& setting, const RunLength& length, double target) {
  auto row = length_json(length);
  for (const auto& name : setting.accountants) {
    const auto factory = [&] { return setting.accountant(name); };
    double sigma = 0;
    try {
      sigma = privacy::calibrate_noise_multiplier(factory, target, *setting.delta,
                                                  setting.sample_rate, length.steps);
    } catch (const std::domain_error& error) {
      throw_input_error(
          "dpforge calibrate: no noise multiplier for target epsilon {} over {} steps: {}", target,
          length.steps, error.what());
    }
    row["noise_multiplier"][name] = calibrated_entry(factory, sigma, setting, length.steps, target);
  }
  return row;
}

void print_calibration(const BudgetSetting& setting, const std::vector<nlohmann::json>& rows,
                       double target) {
  if (rows.size() > 1) {
    fmt::print("target epsilon = {}, {}, delta = {}\n", target, rate_text(setting), *setting.delta);
    print_table(
        setting, rows, "sigma (epsilon)", [](const nlohmann::json& row, const std::string& name) {
          const auto& entry = row["noise_multiplier"][name];
          return fmt::format(
              "{} ({})",
              privacy::upper_significant(entry["noise_multiplier"].get<double>(), kSigmaDigits),
              privacy::upper_fixed(entry["epsilon"].get<double>(), 4));
        });
    return;
  }
  fmt::print("target epsilon = {}, {}, steps = {}, delta = {}\n", target, rate_text(setting),
             length_text(setting.lengths.front()), *setting.delta);
  for (const auto& [name, entry] : rows.front()["noise_multiplier"].items()) {
    fmt::print("  {:<4} noise_multiplier = {}  (epsilon {})\n", name,
               privacy::upper_significant(entry["noise_multiplier"].get<double>(), kSigmaDigits),
               privacy::upper_fixed(entry["epsilon"].get<double>(), 6));
  }
}

bool wants_help(const po::variables_map& values, const po::options_description& options) {
  if (values.count("help") == 0U) return false;
  std::cout << options << "\n";
  return true;
}

}  // namespace

int budget_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge budget: epsilon spent by DP-SGD (or delta at a given epsilon)");
  add_budget_options(options, /*delta_optional=*/true);
  options.add_options()("noise-multiplier", po::value<double>(),
                        "sigma > 0 (noise std / clip norm)")(
      "epsilon", po::value<double>(), "epsilon >= 0 instead of --delta: print delta at it");
  const auto values = parse_args("budget", args, options);
  if (wants_help(values, options)) return kExitOk;
  const bool for_delta = values.count("epsilon") != 0U;
  if (for_delta == (values.count("delta") != 0U))
    throw_input_error("dpforge budget: give --delta D (epsilon is printed) or --epsilon E (delta)");
  const auto setting = read_budget_setting(values, "budget", /*delta_optional=*/true);
  const double sigma = required_number(values, "noise-multiplier", "budget");
  if (!(sigma > 0))
    throw_input_error("dpforge budget: --noise-multiplier {} is invalid: allowed > 0", sigma);
  std::optional<double> epsilon;
  if (for_delta) {
    epsilon = values["epsilon"].as<double>();
    if (!(*epsilon >= 0) || !std::isfinite(*epsilon))
      throw_input_error("dpforge budget: --epsilon {} is invalid: allowed >= 0", *epsilon);
  }
  std::vector<nlohmann::json> rows;
  for (const auto& length : setting.lengths)
    rows.push_back(budget_row(setting, length, sigma, epsilon));
  if (epsilon && setting.dataset_size) warn_large_deltas(rows, *setting.dataset_size);
  if (setting.json) {
    auto head = setting_json(setting);
    head["noise_multiplier"] = sigma;
    if (epsilon) head["epsilon"] = *epsilon;
    fmt::print("{}\n", rows_json(head, rows).dump());
    return kExitOk;
  }
  print_budget(setting, rows, sigma, epsilon);
  return kExitOk;
}

int calibrate_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge calibrate: noise multiplier for a target epsilon");
  add_budget_options(options, /*delta_optional=*/false);
  options.add_options()("target-epsilon", po::value<double>(), "target epsilon > 0");
  const auto values = parse_args("calibrate", args, options);
  if (wants_help(values, options)) return kExitOk;
  const auto setting = read_budget_setting(values, "calibrate", /*delta_optional=*/false);
  const double target = required_number(values, "target-epsilon", "calibrate");
  if (!(target > 0))
    throw_input_error("dpforge calibrate: --target-epsilon {} is invalid: allowed > 0", target);
  std::vector<nlohmann::json> rows;
  for (const auto& length : setting.lengths) rows.push_back(calibrate_row(setting, length, target));
  if (setting.json) {
    auto head = setting_json(setting);
    head["target_epsilon"] = target;
    fmt::print("{}\n", rows_json(head, rows).dump());
    return kExitOk;
  }
  print_calibration(setting, rows, target);
  return kExitOk;
}

}  // namespace dpforge::cli
