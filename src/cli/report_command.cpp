// SPDX-License-Identifier: Apache-2.0
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "args.h"
#include "commands.h"
#include "dpforge/core/files.h"
#include "dpforge/report/html_report.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int report_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge report RUN_DIR [--out FILE]");
  options.add_options()("help,h", "show this help")("run", po::value<std::string>(), "run folder with report.json")(
      "out", po::value<std::string>(), "HTML file to write (default RUN_DIR/report.html)");
  po::positional_options_description positional;
  positional.add("run", 1);
  const auto values = parse_args("report", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("run") == 0U) throw_input_error("dpforge report: missing RUN_DIR (a folder with report.json)");
  const std::filesystem::path run_dir = values["run"].as<std::string>();
  std::ifstream in(run_dir / "report.json");
  if (!in) throw_input_error("{}: no report.json (not a finished dpforge run)", run_dir.string());
  nlohmann::json report;
  try {
    report = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: not valid JSON ({})", (run_dir / "report.json").string(), error.what());
  }
  if (!report.contains("recipe") || !report.contains("privacy") || !report.contains("epochs")) {
    throw_input_error("{}: not a dpforge report (no recipe/privacy/epochs)", (run_dir / "report.json").string());
  }
  const std::filesystem::path out = values.count("out") != 0U ? std::filesystem::path(values["out"].as<std::string>())
                                                               : run_dir / "report.html";
  write_file_atomic(out, report::html_report(report));
  fmt::print("report: {}\n", out.string());
  return kExitOk;
}

}  // namespace dpforge::cli
