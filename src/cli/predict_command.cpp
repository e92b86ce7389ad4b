// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/run/model_file.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int predict_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge predict RUN_DIR INPUT.csv [--out FILE]");
  options.add_options()("help,h", "show this help")(
      "run", po::value<std::string>(), "a finished run's folder (model.json, model.pt)")(
      "input", po::value<std::string>(), "rows to score, in the training file's format")(
      "out", po::value<std::string>(), "CSV to write (default: predictions.csv)");
  po::positional_options_description positional;
  positional.add("run", 1).add("input", 1);
  const auto values = parse_args("predict", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("run") == 0U || values.count("input") == 0U)
    throw_input_error("dpforge predict: needs RUN_DIR and INPUT.csv");
  const std::filesystem::path out =
      values.count("out") != 0U ? values["out"].as<std::string>() : "predictions.csv";
  const auto scored =
      run::predict_table(values["run"].as<std::string>(), values["input"].as<std::string>(), out);
  fmt::print("predict: {} rows scored, written to {}\n", scored, out.string());
  return kExitOk;
}

}  // namespace dpforge::cli
