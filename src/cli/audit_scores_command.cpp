// SPDX-License-Identifier: Apache-2.0
// `dpforge audit-scores FILE.csv`: every bound and metric of the auditor for scores produced by
// any tool, so models dpforge did not train can be audited too.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "dpforge/audit/scores_file.h"
#include "dpforge/audit/summary.h"
#include "dpforge/core/files.h"

namespace po = boost::program_options;

namespace dpforge::cli {

int audit_scores_command(const std::vector<std::string>& args) {
  po::options_description options(
      "dpforge audit-scores FILE.csv [options]\n"
      "FILE.csv rows: score,member (member 1 = trained on, 0 = not; higher score = member)");
  options.add_options()("help,h", "show this help")("file", po::value<std::string>(),
                                                    "CSV of scores")(
      "delta", po::value<double>()->default_value(1e-5),
      "delta of the (epsilon, delta) claim tested, in (0, 1)")(
      "confidence", po::value<double>()->default_value(0.95),
      "confidence of the lower bounds, in (0.5, 1)")(
      "member-prior", po::value<double>(),
      "the probability, in (0, 1), with which the attack's tool made each row a member, "
      "independently of the others (default: the file's fraction of members)")(
      "roc-csv", po::value<std::string>(), "also write the ROC (threshold,fpr,tpr) to this file")(
      "multi-run",
      "every row is an independent training run: add the multi-run bounds (Clopper-Pearson, "
      "Gaussian DP), which are not valid for the canaries of one run")(
      "json", "print one JSON object on stdout");
  po::positional_options_description positional;
  positional.add("file", 1);
  const auto values = parse_args("audit-scores", args, options, positional);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return kExitOk;
  }
  if (values.count("file") == 0U) throw_input_error("dpforge audit-scores: missing FILE.csv");
  const std::string path = values["file"].as<std::string>();
  const double delta = values["delta"].as<double>(), confidence = values["confidence"].as<double>();
  if (!(delta > 0 && delta < 1))
    throw_input_error("dpforge audit-scores: --delta {} is invalid: allowed (0, 1)", delta);
  if (!(confidence > 0.5 && confidence < 1)) {
    throw_input_error("dpforge audit-scores: --confidence {} is invalid: allowed (0.5, 1)",
                      confidence);
  }
  std::ifstream file(path);
  if (!file) throw_input_error("{}: cannot open the scores file", path);
  auto rows = audit::parse_scores(file, path);
  auto& in = rows.members;
  auto& out = rows.non_members;
  // The one-run tests count correct member guesses against the rate chance gives: with 90%
  // members, guessing "member" everywhere is right 90% of the time, so the null uses the prior.
  const double prior =
      values.count("member-prior") != 0U
          ? values["member-prior"].as<double>()
          : static_cast<double>(in.size()) / static_cast<double>(in.size() + out.size());
  if (!(prior > 0 && prior < 1)) {
    throw_input_error("dpforge audit-scores: --member-prior {} is invalid: allowed (0, 1)", prior);
  }
  const audit::CanaryAuditor auditor(std::move(in), std::move(out), prior);
  const bool multi_run = values.count("multi-run") != 0U;
  auto summary = audit::summarize(auditor, confidence, delta, multi_run);
  if (values.count("roc-csv") != 0U)
    write_file_atomic(values["roc-csv"].as<std::string>(), auditor.roc_csv());
  if (values.count("json") != 0U) {
    fmt::print("{}\n", summary.dump());
    return kExitOk;
  }
  const auto& bounds = summary["epsilon_lower_bound"];
  fmt::print(
      "{} members, {} non-members (each a member with probability {:.4g}); lower bounds on "
      "epsilon at {:g}% confidence, delta = {:g}\n",
      auditor.num_in(), auditor.num_out(), prior, 100 * confidence, delta);
  fmt::print("  one-run (Steinke et al. 2023)        {:.4f}\n",
             bounds["one_run_steinke"].get<double>());
  if (bounds["one_run_fdp"].is_null()) {
    fmt::print(
        "  one-run f-DP (Mahloujifar et al.)    n/a: its analysis needs members drawn with "
        "probability 1/2 (--member-prior 0.5 if the tool drew fair coins)\n");
  } else {
    fmt::print("  one-run f-DP (Mahloujifar et al.)    {:.4f}\n",
               bounds["one_run_fdp"].get<double>());
  }
  if (multi_run) {
    fmt::print("  multi-run Clopper-Pearson            {:.4f}   (each row an independent run)\n",
               bounds["clopper_pearson"].get<double>());
    fmt::print(
        "  multi-run Gaussian DP                {:.4f}   (each row an independent run; assumes a "
        "Gaussian-DP-like mechanism)\n",
        bounds["gdp"].get<double>());
  } else {
    fmt::print("  (rows from independent runs? --multi-run adds the multi-run bounds)\n");
  }
  fmt::print(
      "attack: AUROC {:.4f}, TPR {:.4f} at 0.1% FPR, {:.4f} at 1% FPR, balanced accuracy {:.4f}\n",
      summary["auroc"].get<double>(), summary["tpr_at_fpr"]["0.001"].get<double>(),
      summary["tpr_at_fpr"]["0.01"].get<double>(), summary["balanced_accuracy"].get<double>());
  return kExitOk;
}

}  // namespace dpforge::cli
