// SPDX-License-Identifier: Apache-2.0
// The options `dpforge budget` and `dpforge calibrate` share: the sampling rate (q, or a batch
// size over a dataset size), the length of the run (steps or epochs, one value or a list for a
// table), δ, and the accountants to ask.
#pragma once
#include <boost/program_options.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/privacy/accountant.h"

namespace dpforge::cli {

/// One row of a budget or calibrate table: a run of `steps` steps, given as `epochs` when the user
/// gave epochs.
struct RunLength {
  int64_t steps = 0;
  std::optional<double> epochs;
};

struct BudgetSetting {
  double sample_rate = 0;
  std::optional<int64_t> batch_size, dataset_size;
  std::vector<RunLength> lengths;  // one row each, in the order given
  std::optional<double> delta;     // absent for `budget --epsilon` (δ is then the answer)
  std::vector<std::string> accountants;
  std::vector<double> rdp_orders;
  privacy::Adjacency adjacency = privacy::Adjacency::kAddRemove;
  bool json = false;

  std::unique_ptr<privacy::Accountant> accountant(const std::string& name) const;
};

/// --sample-rate | --batch-size with --dataset-size; --steps | --epochs (each a comma list);
/// --delta (required unless `delta_optional`); --accountant; --adjacency; --rdp-orders; --json.
void add_budget_options(boost::program_options::options_description& options, bool delta_optional);

/// The setting the options describe; InputError naming the option and its allowed values. Warns
/// on stderr when δ ≥ 1/N for a given --dataset-size.
BudgetSetting read_budget_setting(const boost::program_options::variables_map& values,
                                  const std::string& command, bool delta_optional);

/// A value of a --option that must be given; InputError naming it.
double required_number(const boost::program_options::variables_map& values, const char* name,
                       const std::string& command);

}  // namespace dpforge::cli
