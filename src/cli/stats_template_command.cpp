// SPDX-License-Identifier: Apache-2.0
// `dpforge stats-template DATA.csv`: the statistics file's skeleton, for the user to fill in.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "dpforge/core/files.h"
#include "dpforge/data/column_look.h"
#include "dpforge/data/csv.h"

namespace po = boost::program_options;

namespace dpforge::cli {
namespace {

std::string looks_like(const data::ColumnLook& column) {
  const std::string missing =
      column.missing > 0 ? fmt::format(", {} missing (choose data.missing)", column.missing) : "";
  if (column.numeric) return fmt::format("{}: numbers{}", column.name, missing);
  if (column.distinct >= data::ColumnLook::kMaxCounted) {
    return fmt::format(
        "{}: text, over {} distinct values (an identifier or free text: leave it out "
        "with data.features){}",
        column.name, data::ColumnLook::kMaxCounted - 1, missing);
  }
  return fmt::format("{}: text, {} distinct values (declare it in data.categorical){}", column.name,
                     column.distinct, missing);
}

nlohmann::json skeleton(const std::string& file, const std::vector<data::ColumnLook>& columns,
                        const std::string& label) {
  nlohmann::json about = {
      fmt::format("Skeleton written by dpforge stats-template from {}, outside any private run: "
                  "it read the values only to guess each column's type, and holds none of them.",
                  file),
      "Replace every null with a public value (a data dictionary, a published range or code "
      "list), never with a value read off private rows: that would be a release the run does "
      "not account for. A numeric column whose range you do not know can instead be deleted "
      "from this file: with data.dp_stats_noise_multiplier set, its range (and, with data.scaling "
      "= standardize, its mean and std) is released under DP and accounted; or leave it out of "
      "the features (data.features).",
      "What each column looked like:"};
  nlohmann::json entries = nlohmann::json::object();
  for (const auto& column : columns) {
    if (column.name == label) {
      about.push_back(fmt::format("{}: the label (data.label), not a feature", column.name));
      continue;
    }
    about.push_back(looks_like(column));
    entries[column.name] = column.numeric ? nlohmann::json{{"min", nullptr}, {"max", nullptr}}
                                          : nlohmann::json{{"categories", nullptr}};
  }
  return {{"about", about}, {"columns", entries}};
}

}  // namespace

int stats_template_command(const std::vector<std::string>& args) {
  po::options_description options("dpforge stats-template DATA.csv [--label COLUMN] [--out FILE]");
  options.add_options()("help,h", "show this help")("data", po::value<std::string>(),
                                                    "the CSV table")(
      "label", po::value<std::string>(), "the label column (left out of the skeleton)")(
      "out", po::value<std::string>(), "JSON file to write (default: standard output)");
  po::positional_options_description positional;
  positional.add("data", 1);
  const auto values = parse_args("stats-template", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("data") == 0U) throw_input_error("dpforge stats-template: needs DATA.csv");
  const auto path = values["data"].as<std::string>();
  std::ifstream file(path, std::ios::binary);
  if (!file) throw_input_error("{}: cannot open the CSV file", path);
  data::CsvReader csv(file, path);
  const auto columns = data::look_at_columns(csv);
  const auto label = values.count("label") != 0U ? values["label"].as<std::string>() : "";
  const auto text = skeleton(path, columns, label).dump(2) + "\n";
  if (values.count("out") == 0U) {
    std::cout << text;
    return kExitOk;
  }
  const std::filesystem::path out = values["out"].as<std::string>();
  if (std::filesystem::exists(out)) {
    throw_input_error(
        "{}: exists; stats-template does not overwrite a statistics file (one you "
        "may have filled in): name another --out",
        out.string());
  }
  write_file_atomic(out, text);
  fmt::print(stderr, "stats-template: {} (fill in every null with a public value)\n", out.string());
  return kExitOk;
}

}  // namespace dpforge::cli
