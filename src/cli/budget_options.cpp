// SPDX-License-Identifier: Apache-2.0
#include "budget_options.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "dpforge/core/error.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/rdp.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

template <typename Number>
std::vector<Number> parse_list(const std::string& text, const std::string& command,
                               const char* option, const char* allowed) {
  std::vector<Number> numbers;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    Number value{};
    const auto [stop, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || stop != item.data() + item.size() || !(value > 0) ||
        !std::isfinite(static_cast<double>(value))) {
      throw_input_error("dpforge {}: --{} {}: '{}' is invalid: allowed {}, or a comma list of them",
                        command, option, text, item, allowed);
    }
    numbers.push_back(value);
    begin = end + 1;
  }
  return numbers;
}

// q from --sample-rate, or from --batch-size over --dataset-size (Poisson: expected batch / N).
void read_sample_rate(const po::variables_map& values, const std::string& command,
                      BudgetSetting& setting) {
  if (values.count("dataset-size") != 0U) {
    setting.dataset_size = values["dataset-size"].as<int64_t>();
    if (*setting.dataset_size < 1)
      throw_input_error("dpforge {}: --dataset-size {} is invalid: allowed integers >= 1", command,
                        *setting.dataset_size);
  }
  const bool has_rate = values.count("sample-rate") != 0U;
  const bool has_batch = values.count("batch-size") != 0U;
  if (has_rate == has_batch) {
    throw_input_error(
        "dpforge {}: give either --sample-rate Q or --batch-size B with --dataset-size N (q = B/N)",
        command);
  }
  if (has_rate) {
    setting.sample_rate = values["sample-rate"].as<double>();
    if (!(setting.sample_rate > 0 && setting.sample_rate <= 1)) {
      throw_input_error("dpforge {}: --sample-rate {} is invalid: allowed (0, 1]", command,
                        setting.sample_rate);
    }
    return;
  }
  setting.batch_size = values["batch-size"].as<int64_t>();
  if (!setting.dataset_size)
    throw_input_error("dpforge {}: --batch-size needs --dataset-size (q = B/N)", command);
  if (*setting.batch_size < 1 || *setting.batch_size > *setting.dataset_size) {
    throw_input_error("dpforge {}: --batch-size {} is invalid: allowed integers in [1, {}] (N)",
                      command, *setting.batch_size, *setting.dataset_size);
  }
  setting.sample_rate =
      static_cast<double>(*setting.batch_size) / static_cast<double>(*setting.dataset_size);
}

// More steps than any training takes; past it the step count would overflow on its way to the
// accountant.
constexpr double kMaxSteps = 1e12;

// One row per --steps value, or per --epochs value with steps = ceil(epochs / q) (as a run plans).
void read_lengths(const po::variables_map& values, const std::string& command,
                  BudgetSetting& setting) {
  const bool has_steps = values.count("steps") != 0U, has_epochs = values.count("epochs") != 0U;
  if (has_steps == has_epochs)
    throw_input_error("dpforge {}: give exactly one of --steps or --epochs", command);
  if (has_steps) {
    for (const auto steps : parse_list<int64_t>(values["steps"].as<std::string>(), command, "steps",
                                                "integers >= 1")) {
      if (static_cast<double>(steps) > kMaxSteps)
        throw_input_error("dpforge {}: --steps {} is invalid: allowed at most {:g}", command, steps,
                          kMaxSteps);
      setting.lengths.push_back({steps, std::nullopt});
    }
    return;
  }
  for (const double epochs :
       parse_list<double>(values["epochs"].as<std::string>(), command, "epochs", "numbers > 0")) {
    if (epochs / setting.sample_rate > kMaxSteps) {
      throw_input_error(
          "dpforge {}: --epochs {:g} is invalid: at q = {} it takes more than {:g} "
          "steps",
          command, epochs, setting.sample_rate, kMaxSteps);
    }
    setting.lengths.push_back({privacy::steps_for_epochs(epochs, setting.sample_rate), epochs});
  }
}

void read_adjacency(const po::variables_map& values, const std::string& command,
                    BudgetSetting& setting) {
  const std::string name = values["adjacency"].as<std::string>();
  const auto adjacency = privacy::kAdjacencyNames.parse(name);
  if (!adjacency) {
    throw_input_error("dpforge {}: --adjacency {} is invalid: allowed {}", command, name,
                      privacy::kAdjacencyNames.allowed());
  }
  setting.adjacency = *adjacency;
}

void read_accountants(const po::variables_map& values, const std::string& command,
                      BudgetSetting& setting) {
  const std::string accountant = values["accountant"].as<std::string>();
  const bool replace_one = setting.adjacency == privacy::Adjacency::kReplaceOne;
  if (accountant == "all") {
    // The default accountant first, as JSON sorts them; rdp holds under add/remove only.
    setting.accountants =
        replace_one ? std::vector<std::string>{"pld"} : std::vector<std::string>{"pld", "rdp"};
  } else if (accountant == "rdp" && replace_one) {
    throw_input_error(
        "dpforge {}: --accountant rdp holds under --adjacency add_remove only; replace_one needs "
        "--accountant pld",
        command);
  } else if (privacy::kAccountantNames.parse(accountant)) {
    setting.accountants = {accountant};
  } else {
    throw_input_error("dpforge {}: --accountant {} is invalid: allowed {}, all", command,
                      accountant, privacy::kAccountantNames.allowed());
  }
  const std::string grid = values["rdp-orders"].as<std::string>();
  if (grid == "opacus") {
    setting.rdp_orders = privacy::opacus_rdp_orders();
  } else if (grid == "integer") {
    for (const double order : privacy::default_rdp_orders()) {
      if (order == std::floor(order)) setting.rdp_orders.push_back(order);
    }
  } else if (grid == "default") {
    setting.rdp_orders = privacy::default_rdp_orders();
  } else {
    throw_input_error("dpforge {}: --rdp-orders {} is invalid: allowed default, opacus, integer",
                      command, grid);
  }
}

}  // namespace

std::unique_ptr<privacy::Accountant> BudgetSetting::accountant(const std::string& name) const {
  if (name == "rdp") return std::make_unique<privacy::RdpAccountant>(rdp_orders);
  return privacy::make_accountant(name, adjacency);
}

void add_budget_options(po::options_description& options, bool delta_optional) {
  options.add_options()("help,h", "show this help")(
      "sample-rate", po::value<double>(), "Poisson sampling rate q in (0, 1] (expected batch / N)")(
      "batch-size", po::value<int64_t>(), "expected batch size B, with --dataset-size: q = B/N")(
      "dataset-size", po::value<int64_t>(), "N; also warns when delta >= 1/N")(
      "steps", po::value<std::string>(), "DP-SGD steps (>= 1), or a list for a table: 100,1000")(
      "epochs", po::value<std::string>(),
      "epochs instead of --steps, steps = ceil(epochs / q); a list for a table: 1,10,100")(
      "delta", po::value<double>(),
      delta_optional ? "delta in (0, 1): print epsilon (or give --epsilon for delta)"
                     : "delta in (0, 1); choose delta << 1/N")(
      "accountant", po::value<std::string>()->default_value("all"), "pld | rdp | all")(
      "adjacency", po::value<std::string>()->default_value("add_remove"),
      "add_remove | replace_one (one example swapped: a 2C shift per step; pld only)")(
      "rdp-orders", po::value<std::string>()->default_value("default"),
      "RDP order grid: default (dp_accounting's 156 orders) | opacus (Opacus's 151) | integer "
      "(2..63, 128, 256, 512, 1024): the latter two to compare digits with those libraries")(
      "json", "print one JSON object on stdout");
}

double required_number(const po::variables_map& values, const char* name,
                       const std::string& command) {
  if (values.count(name) == 0U) throw_input_error("dpforge {}: --{} is required", command, name);
  return values[name].as<double>();
}

BudgetSetting read_budget_setting(const po::variables_map& values, const std::string& command,
                                  bool delta_optional) {
  BudgetSetting setting;
  read_sample_rate(values, command, setting);
  read_lengths(values, command, setting);
  if (values.count("delta") != 0U || !delta_optional) {
    setting.delta = required_number(values, "delta", command);
    if (!(*setting.delta > 0 && *setting.delta < 1))
      throw_input_error("dpforge {}: --delta {} is invalid: allowed (0, 1)", command,
                        *setting.delta);
    const auto n = setting.dataset_size;
    if (n && *setting.delta >= 1.0 / static_cast<double>(*n)) {
      fmt::print(stderr,
                 "dpforge {}: warning: delta = {} >= 1/N = {:.3g}: a mechanism that publishes one "
                 "random record outright meets this delta; use delta << 1/N\n",
                 command, *setting.delta, 1.0 / static_cast<double>(*n));
    }
  }
  read_adjacency(values, command, setting);
  read_accountants(values, command, setting);
  setting.json = values.count("json") != 0U;
  return setting;
}

}  // namespace dpforge::cli
