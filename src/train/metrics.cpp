// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "dpforge/train/task_metrics.h"

namespace dpforge::train {

namespace {

// One evaluation batch's sums, added in batch order.
struct BatchEvaluation {
  double loss_sum = 0, squared_error = 0, absolute_error = 0;
  int64_t correct = 0;
  torch::Tensor logits;       // binary tasks
  torch::Tensor predictions;  // multi-class tasks
};

BatchEvaluation evaluate_batch(torch::nn::Sequential& model, const data::Dataset& dataset,
                               int64_t begin, int64_t end) {
  torch::NoGradGuard no_grad;
  BatchEvaluation batch;
  const auto outputs = model->forward(dataset.inputs.slice(0, begin, end));
  const auto labels = dataset.labels.slice(0, begin, end);
  batch.loss_sum = data::per_example_loss(dataset.task, outputs, labels, {}).sum().item<double>();
  batch.correct = data::count_correct(dataset.task, outputs, labels);
  if (dataset.task == data::Task::kBinary) batch.logits = outputs.squeeze(1).cpu();
  if (dataset.task == data::Task::kMulticlass) batch.predictions = outputs.argmax(1).cpu();
  if (dataset.task == data::Task::kRegression) {
    const auto error = (outputs.squeeze(1) - labels).to(torch::kFloat64) * dataset.target_scale;
    batch.squared_error = error.square().sum().item<double>();
    batch.absolute_error = error.abs().sum().item<double>();
  }
  return batch;
}

}  // namespace

Evaluation evaluate(torch::nn::Sequential& model, const data::Dataset& dataset, int64_t batch_size,
                    dp::StepWorkers* workers) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<BatchEvaluation> batches(
      static_cast<size_t>((dataset.size() + batch_size - 1) / batch_size));
  const auto one = [&](int64_t b) {
    batches[b] = evaluate_batch(model, dataset, b * batch_size,
                                std::min(dataset.size(), (b + 1) * batch_size));
  };
  if (workers != nullptr) {
    workers->for_each(static_cast<int64_t>(batches.size()), one);
  } else {
    for (size_t b = 0; b < batches.size(); ++b) one(static_cast<int64_t>(b));
  }
  double loss_sum = 0, squared_error = 0, absolute_error = 0;
  int64_t correct = 0;
  std::vector<torch::Tensor> logits, predictions;
  for (const auto& batch : batches) {
    loss_sum += batch.loss_sum;
    squared_error += batch.squared_error;
    absolute_error += batch.absolute_error;
    correct += batch.correct;
    if (batch.logits.defined()) logits.push_back(batch.logits);
    if (batch.predictions.defined()) predictions.push_back(batch.predictions);
  }
  model->train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(1, dataset.size()));
  Evaluation evaluation;
  evaluation.loss = loss_sum / n;
  evaluation.accuracy = static_cast<double>(correct) / n;
  if (dataset.size() == 0) return evaluation;
  const auto labels = dataset.labels.cpu();
  if (dataset.task != data::Task::kRegression)
    evaluation.baseline = majority_share(labels, std::max<int64_t>(2, dataset.num_classes));
  if (dataset.task == data::Task::kBinary && !logits.empty()) {
    const auto scores = torch::cat(logits);
    evaluation.auroc = binary_auroc(scores, labels);
    evaluation.auprc = average_precision(scores, labels);
  }
  if (dataset.task == data::Task::kMulticlass && !predictions.empty())
    evaluation.macro_f1 = macro_f1(torch::cat(predictions), labels, dataset.num_classes);
  if (dataset.task == data::Task::kRegression) {
    evaluation.rmse = std::sqrt(squared_error / n);
    evaluation.mae = absolute_error / n;
    evaluation.r2 = r_squared(squared_error, labels.to(torch::kFloat64) * dataset.target_scale);
  }
  return evaluation;
}

std::string divergence(const torch::nn::Module& model, const TrainOptions& options, int64_t step) {
  torch::NoGradGuard no_grad;
  for (const auto& parameter : model.named_parameters()) {
    if (!torch::isfinite(parameter.value()).all().item<bool>()) {
      return fmt::format(
          "parameter {} became NaN/Inf at step {}: training diverged; lower train.lr "
          "(now {}) or train.weight_decay (now {})",
          parameter.key(), step, options.lr(), options.weight_decay());
    }
  }
  return "";
}

EpochMetrics finish_epoch(torch::nn::Sequential& model, const HeldOut& held_out, int64_t epoch,
                          int64_t steps, double loss_sum, int64_t correct, int64_t seen,
                          double seconds, dp::StepWorkers* workers) {
  const auto test = evaluate(model, held_out.test, 1000, workers);
  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.steps = steps;
  metrics.train_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
  metrics.train_accuracy =
      seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  metrics.test_loss = test.loss;
  metrics.test_accuracy = test.accuracy;
  metrics.test_auroc = test.auroc;
  metrics.test_auprc = test.auprc;
  metrics.test_macro_f1 = test.macro_f1;
  metrics.test_baseline = test.baseline;
  metrics.test_rmse = test.rmse;
  metrics.test_mae = test.mae;
  metrics.test_r2 = test.r2;
  metrics.seconds = seconds;
  // A regression model has no accuracy to watch: null, not 0.
  if (held_out.validation != nullptr && held_out.validation->task != data::Task::kRegression)
    metrics.validation_accuracy = evaluate(model, *held_out.validation, 1000, workers).accuracy;
  return metrics;
}

std::string early_stop_reason(const std::vector<EpochMetrics>& epochs, int64_t patience) {
  if (patience <= 0 || epochs.empty() || !epochs.back().validation_accuracy) return "";
  size_t best = 0;
  for (size_t i = 1; i < epochs.size(); ++i) {
    if (*epochs[i].validation_accuracy > *epochs[best].validation_accuracy) best = i;
  }
  if (epochs.size() - 1 - best < static_cast<size_t>(patience)) return "";
  return fmt::format(
      "early stopping after epoch {}: validation accuracy has not improved for {} epochs "
      "(best {:.2f}% at epoch {})",
      epochs.back().epoch, patience, 100 * *epochs[best].validation_accuracy, epochs[best].epoch);
}

namespace {

std::optional<double> optional_number(const nlohmann::json& json, const char* key) {
  const auto found = json.find(key);
  if (found == json.end() || !found->is_number()) return std::nullopt;
  return found->get<double>();
}

}  // namespace

nlohmann::json json_or_null(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json to_json(const EpochMetrics& m) {
  // A regression task has no accuracy: null, not a misleading 0.
  const bool regression = m.test_rmse.has_value();
  auto accuracy = [regression](double value) {
    return regression ? nlohmann::json(nullptr) : nlohmann::json(value);
  };
  return {{"epoch", m.epoch},
          {"steps", m.steps},
          {"train_loss", m.train_loss},
          {"train_accuracy", accuracy(m.train_accuracy)},
          {"test_loss", m.test_loss},
          {"test_accuracy", accuracy(m.test_accuracy)},
          {"test_auroc", json_or_null(m.test_auroc)},
          {"test_auprc", json_or_null(m.test_auprc)},
          {"test_macro_f1", json_or_null(m.test_macro_f1)},
          {"test_baseline_accuracy", json_or_null(m.test_baseline)},
          {"test_rmse", json_or_null(m.test_rmse)},
          {"test_mae", json_or_null(m.test_mae)},
          {"test_r2", json_or_null(m.test_r2)},
          {"seconds", m.seconds},
          {"validation_accuracy", json_or_null(m.validation_accuracy)},
          {"epsilon", json_or_null(m.epsilon)}};
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& json) {
  EpochMetrics m;
  m.epoch = json.at("epoch").get<int64_t>();
  m.steps = json.at("steps").get<int64_t>();
  m.train_loss = json.at("train_loss").get<double>();
  m.train_accuracy = optional_number(json, "train_accuracy").value_or(0.0);
  m.test_loss = json.at("test_loss").get<double>();
  m.test_accuracy = optional_number(json, "test_accuracy").value_or(0.0);
  m.test_auroc = optional_number(json, "test_auroc");
  m.test_auprc = optional_number(json, "test_auprc");
  m.test_macro_f1 = optional_number(json, "test_macro_f1");
  m.test_baseline = optional_number(json, "test_baseline_accuracy");
  m.test_rmse = optional_number(json, "test_rmse");
  m.test_mae = optional_number(json, "test_mae");
  m.test_r2 = optional_number(json, "test_r2");
  m.seconds = json.at("seconds").get<double>();
  m.validation_accuracy = optional_number(json, "validation_accuracy");
  m.epsilon = optional_number(json, "epsilon");
  return m;
}

std::string describe_epoch(const EpochMetrics& m, int64_t epochs, const std::string& extra) {
  const std::string validation =
      m.validation_accuracy ? fmt::format("val acc {:.2f}%  ", 100 * *m.validation_accuracy) : "";
  if (m.test_rmse) {
    return fmt::format(
        "epoch {}/{}  train loss {:.4f}  test loss {:.4f} rmse {:.4g} mae {:.4g}  "
        "{}({:.1f}s)",
        m.epoch, epochs, m.train_loss, m.test_loss, *m.test_rmse, *m.test_mae,
        extra.empty() ? "" : extra + "  ", m.seconds);
  }
  const std::string auroc = m.test_auroc      ? fmt::format(" auroc {:.4f}", *m.test_auroc)
                            : m.test_macro_f1 ? fmt::format(" macro-f1 {:.4f}", *m.test_macro_f1)
                                              : "";
  return fmt::format(
      "epoch {}/{}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%{}  {}{}({:.1f}s)",
      m.epoch, epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss, 100 * m.test_accuracy,
      auroc, validation, extra.empty() ? "" : extra + "  ", m.seconds);
}

}  // namespace dpforge::train
