// SPDX-License-Identifier: Apache-2.0
#include <fmt/format.h>

#include <iostream>

#include "args.h"
#include "commands.h"
#include "dpforge/core/files.h"
#include "dpforge/report/compare.h"
#include "dpforge/report/html_report.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int report_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge report RUN_DIR [--out FILE]");
  options.add_options()("help,h", "show this help")("run", po::value<std::string>(),
                                                    "run folder with report.json")(
      "out", po::value<std::string>(), "HTML file to write (default RUN_DIR/report.html)");
  po::positional_options_description positional;
  positional.add("run", 1);
  const auto values = parse_args("report", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("run") == 0U)
    throw_input_error("dpforge report: missing RUN_DIR (a folder with report.json)");
  const std::filesystem::path run_dir = values["run"].as<std::string>();
  const auto report = report::read_report(run_dir);
  const std::filesystem::path out = values.count("out") != 0U
                                        ? std::filesystem::path(values["out"].as<std::string>())
                                        : run_dir / "report.html";
  write_file_atomic(out, report::html_report(report));
  fmt::print("report: {}\n", out.string());
  return kExitOk;
}

}  // namespace dpforge::cli
