// SPDX-License-Identifier: Apache-2.0
// `dpforge predict`: a finished run's model applied to new rows with the run's own preprocessing.
#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/data/csv.h"
#include "dpforge/run/model_file.h"

namespace dpforge::run {
namespace {

// A CSV field: quoted when it holds a separator, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::vector<std::string> class_names(const TrainedModel& trained) {
  std::vector<std::string> names;
  for (int64_t k = 0; k < trained.classes; ++k) {
    const auto& values = trained.encoding->label_values;
    names.push_back(k < static_cast<int64_t>(values.size()) ? values[k] : std::to_string(k));
  }
  return names;
}

// The output file's rows, one per input row in file order: scored rows, and dropped ones (empty
// scores and the reason).
std::string predictions_text(const TrainedModel& trained, const data::EncodedRows& rows,
                             const torch::Tensor& outputs) {
  const bool regression = trained.task == data::Task::kRegression;
  const auto names = regression ? std::vector<std::string>{} : class_names(trained);
  std::ostringstream out;
  out << "line,prediction";
  for (const auto& name : names) out << "," << csv_field("p_" + name);
  out << ",note\n";
  torch::Tensor values;  // regression: the prediction; else each class's probability
  if (regression) {
    const auto& encoding = *trained.encoding;
    values = outputs.squeeze(1).to(torch::kFloat64) * encoding.target_std.value_or(1.0) +
             encoding.target_mean.value_or(0.0);
  } else {
    values = data::class_log_probabilities(trained.task, outputs).exp().to(torch::kFloat64);
  }
  size_t kept = 0, dropped = 0;
  while (kept < rows.lines.size() || dropped < rows.dropped_lines.size()) {
    const bool scored =
        dropped == rows.dropped_lines.size() ||
        (kept < rows.lines.size() && rows.lines[kept] < rows.dropped_lines[dropped]);
    if (!scored) {
      out << rows.dropped_lines[dropped++] << ",";
      for (size_t k = 0; k < names.size(); ++k) out << ",";
      out << ",dropped: a missing value (data.missing = drop)\n";
      continue;
    }
    const auto at = static_cast<int64_t>(kept);
    out << rows.lines[kept++] << ",";
    if (regression) {
      out << fmt::format("{:.9g}", values[at].item<double>()) << ",\n";
      continue;
    }
    const auto row = values[at];
    out << csv_field(names[row.argmax().item<int64_t>()]);
    for (size_t k = 0; k < names.size(); ++k)
      out << fmt::format(",{:.9g}", row[static_cast<int64_t>(k)].item<double>());
    out << ",\n";
  }
  return out.str();
}

}  // namespace

int64_t predict_table(const std::filesystem::path& run_dir, const std::filesystem::path& input_csv,
                      const std::filesystem::path& output_csv) {
  auto trained = load_trained_model(run_dir);
  if (!trained.encoding) {
    throw_input_error(
        "{}: this model was trained on array data ({}); dpforge predict reads tables (CSV) with "
        "a table run's preprocessing",
        (run_dir / "model.json").string(),
        trained.description.at("model").at("input_shape").dump());
  }
  std::ifstream file(input_csv, std::ios::binary);
  if (!file) throw_input_error("{}: cannot open the CSV file", input_csv.string());
  data::CsvReader csv(file, input_csv.string());
  const auto rows = data::encode_table(csv, *trained.encoding);
  torch::NoGradGuard no_grad;
  const auto outputs = rows.inputs.size(0) > 0
                           ? trained.model->forward(rows.inputs)
                           : torch::empty({0, trained.description.at("outputs").get<int64_t>()});
  write_file_atomic(output_csv, predictions_text(trained, rows, outputs));
  return rows.inputs.size(0);
}

}  // namespace dpforge::run
