// SPDX-License-Identifier: Apache-2.0
// `dpforge summary RECIPE`: the model a recipe trains, before training it (run/model_summary.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/config/recipe.h"
#include "dpforge/run/model_summary.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, " x "));
}

std::string bytes_text(int64_t bytes) {
  const auto value = static_cast<double>(bytes);
  return value >= (1 << 20) ? fmt::format("{:.1f} MiB", value / (1 << 20))
                            : fmt::format("{:.1f} KiB", value / (1 << 10));
}

void print_summary(const run::ModelSummary& summary, const config::Recipe& recipe) {
  fmt::print("model: {} for {} examples of {} ({} outputs)\n", summary.arch, summary.task,
             shape_text(summary.example_shape), summary.outputs);
  std::vector<std::vector<std::string>> rows = {
      {"name", "layer", "output", "parameters", "trains", "per-example norm"}};
  for (const auto& layer : summary.layers) {
    const bool has = layer.parameters > 0;
    rows.push_back({layer.name, (layer.position.empty() ? "" : layer.position + " ") + layer.text,
                    shape_text(layer.output_shape), has ? std::to_string(layer.parameters) : "",
                    has ? (layer.trains ? "yes" : "frozen") : "", layer.norm});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const bool number = c == 3;
      line += number ? fmt::format("{:>{}}  ", row[c], widths[c])
                     : fmt::format("{:<{}}  ", row[c], widths[c]);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::print("{}\n", line);
  }
  fmt::print("parameters: {} trainable of {}{}\n", summary.trainable_parameters, summary.parameters,
             summary.trainable_parameters < summary.parameters
                 ? fmt::format(" (model.trainable = {}):\n  the frozen ones get no "
                               "per-example gradient, no noise and no update",
                               recipe.model.trainable())
                 : "");
  if (summary.step_bytes) {
    fmt::print(
        "memory: {} of tensors for one {} step on a physical batch of {}\n  (measured on zeros: "
        "weights, optimizer state, activations{});\n  the training split holds {}; a run on W "
        "step workers holds up to W physical batches at once\n",
        bytes_text(*summary.step_bytes), summary.private_step ? "DP-SGD" : "non-private",
        summary.physical_batch, summary.private_step ? ", per-example norms and clipped sums" : "",
        bytes_text(summary.dataset_bytes));
  }
}

}  // namespace

int summary_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge summary RECIPE [--set section.key=value]...");
  options.add_options()("help,h", "show this help")("recipe", po::value<std::string>(),
                                                    "the recipe file")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a recipe key (repeatable)");
  po::positional_options_description positional;
  positional.add("recipe", 1);
  const auto values = parse_args("summary", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("recipe") == 0U) throw_input_error("dpforge summary: needs RECIPE");
  const auto overrides = values.count("set") != 0U ? values["set"].as<std::vector<std::string>>()
                                                   : std::vector<std::string>{};
  const auto recipe = config::load_recipe(values["recipe"].as<std::string>(), overrides);
  // Installed before the model exists, so that every tensor of the measured step is counted.
  auto& meter = TensorMemoryMeter::install();
  const bool on_cpu = recipe.run.device() != config::Device::kCuda;
  print_summary(run::summarize_model(recipe, on_cpu ? &meter : nullptr), recipe);
  return kExitOk;
}

}  // namespace dpforge::cli
