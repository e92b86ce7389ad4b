// SPDX-License-Identifier: Apache-2.0
// model.json: what a trained model needs to be used outside its run, written beside model.pt.
//   model          the architecture (its layer string and options), the input shape, the embedded
//                  categorical features, every parameter's name and shape and whether it trained;
//   preprocessing  a table's full encoding (data/table_encoding.h): columns in order, their scaling
//                  with the public or DP-released numbers, vocabularies, the missing-value rule,
//                  the label mapping, a standardized target's mean and std (null for array data);
//   privacy        the guarantee the weights carry, and which of them were trained privately.
// Everything in it is public: the public statistics the user vouched for and the DP releases,
// which the run accounted for before training; nothing is read off the private data afterwards.
//
// Example:
//   auto trained = run::load_trained_model("runs/cancer");
//   const auto rows = data::encode_table(csv, *trained.encoding);
//   const auto outputs = trained.model->forward(rows.inputs);
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "dpforge/data/table_encoding.h"
#include "dpforge/data/task.h"
#include "dpforge/run/run.h"

namespace dpforge::run {

/// model.json's contents for `model` trained by `recipe` on `data`; `report` is the run's
/// report.json (its privacy object is summarized).
nlohmann::json describe_model(const config::Recipe& recipe, const torch::nn::Module& model,
                              const RunData& data, const nlohmann::json& report);

/// A finished run's model, rebuilt from RUN_DIR/model.json and RUN_DIR/model.pt, in eval mode.
struct TrainedModel {
  torch::nn::Sequential model;
  data::Task task = data::Task::kMulticlass;
  int64_t classes = 0;
  std::optional<data::TableEncoding> encoding;  // null: the model was trained on array data
  nlohmann::json description;                   // model.json
};
/// InputError naming the file when RUN_DIR holds no finished run, or model.json does not
/// describe model.pt (a parameter's name or shape differs).
TrainedModel load_trained_model(const std::filesystem::path& run_dir);

/// Scores the rows of `input_csv` (the training file's format; the label column may be absent)
/// with the run's model and writes `output_csv` atomically: per input row its line, the predicted
/// class (its name when data.label_values named them) and each class's probability, or the
/// predicted value in the target's units; a row training would have dropped (data.missing = drop)
/// keeps its line with empty scores and the reason. Returns the number of rows scored.
int64_t predict_table(const std::filesystem::path& run_dir, const std::filesystem::path& input_csv,
                      const std::filesystem::path& output_csv);

}  // namespace dpforge::run
