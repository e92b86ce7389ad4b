// SPDX-License-Identifier: Apache-2.0
// What a training run measures as it goes: per-epoch metrics on the held-out data, divergence and
// early stopping. None of it is private: train metrics are computed on the data without noise.
#pragma once
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dpforge/data/dataset.h"
#include "dpforge/dp/step_workers.h"
#include "dpforge/train/options.h"

namespace dpforge::train {

/// A model scored on held-out data with its task's loss (unsmoothed: for classification, the
/// log-loss) and the metrics that fit the task (task_metrics.h). Classification: accuracy and the
/// majority-class baseline; binary also AUROC and average precision of the logit; multi-class
/// also macro-F1; regression: RMSE, MAE and R² in the target's original units (`target_scale`
/// undoes a standardized target), and accuracy 0.
struct Evaluation {
  double loss = 0;
  double accuracy = 0;
  std::optional<double> auroc, auprc;  // binary
  std::optional<double> macro_f1;      // multi-class
  std::optional<double> baseline;      // classification: the majority class's share
  std::optional<double> rmse, mae, r2;
};

struct EpochMetrics {
  int64_t epoch = 0;
  int64_t steps = 0;  // optimizer steps taken so far
  double train_loss = 0;
  double train_accuracy = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double seconds = 0;                            // wall time of this epoch, evaluation included
  std::optional<double> validation_accuracy;     // with data.validation_size
  std::optional<double> epsilon;                 // spent so far (private runs)
  std::optional<double> test_auroc, test_auprc;  // binary tasks
  std::optional<double> test_macro_f1;           // multi-class tasks
  std::optional<double> test_baseline;           // classification: majority-class accuracy
  std::optional<double> test_rmse, test_mae, test_r2;  // regression (the accuracies are null)
};

/// The held-out data evaluated after every epoch.
struct HeldOut {
  const data::Dataset& test;
  /// data.validation_size examples held out of training; train.early_stopping_patience watches
  /// them.
  const data::Dataset* validation = nullptr;
};

/// Why training should stop early ("" = go on): the validation accuracy has not improved for
/// `patience` epochs (0 = never stop).
std::string early_stop_reason(const std::vector<EpochMetrics>& epochs, int64_t patience);

nlohmann::json to_json(const EpochMetrics& metrics);
/// The value, or null when there is none (a metric the task or run does not have).
nlohmann::json json_or_null(const std::optional<double>& value);
EpochMetrics epoch_metrics_from_json(const nlohmann::json& json);

/// Counts a private run keeps about its batches. They are functions of the private data computed
/// without noise, so they are NOT covered by the privacy guarantee: report.json lists them under
/// `diagnostics`, never under `privacy`.
struct TrainingDiagnostics {
  int64_t empty_batches = 0;  // logical batches with no example (still noised, counted)
  int64_t examples_dropped_nonfinite = 0;  // examples whose gradient norm was NaN/Inf
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  int64_t steps = 0;
  /// Set when training stopped because the parameters became NaN/Inf (divergence): says why.
  std::string diverged;
  /// Set when early stopping ended training before the last epoch: says why.
  std::string stopped_early;
  double test_accuracy = 0;
  double wall_seconds = 0;
  TrainingDiagnostics diagnostics;
};

/// Empty when every parameter of `model` is finite, else why training must stop. Parameters are
/// a function of the privatized updates, so under DP this check costs no privacy.
std::string divergence(const torch::nn::Module& model, const TrainOptions& options, int64_t step);

/// Mean loss and the task's metrics of `model` (in eval mode) on `dataset`, in batches of
/// `batch_size`, on `workers` when given (the batches' numbers are combined in batch order).
Evaluation evaluate(torch::nn::Sequential& model, const data::Dataset& dataset,
                    int64_t batch_size = 1000, dp::StepWorkers* workers = nullptr);

/// Closes an epoch: evaluates `model` on the held-out sets and records the running training
/// statistics (`loss_sum` and `correct` over `seen` examples; zeros when none were seen).
EpochMetrics finish_epoch(torch::nn::Sequential& model, const HeldOut& held_out, int64_t epoch,
                          int64_t steps, double loss_sum, int64_t correct, int64_t seen,
                          double seconds, dp::StepWorkers* workers = nullptr);

/// The progress line of a finished epoch; `extra` is appended before the time (e.g. ε so far).
std::string describe_epoch(const EpochMetrics& metrics, int64_t epochs,
                           const std::string& extra = "");

}  // namespace dpforge::train
