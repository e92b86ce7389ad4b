// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/metrics.h"

#include <fmt/format.h>
#include <torch/torch.h>

namespace dpforge::train {

Evaluation evaluate(torch::nn::Sequential& model, const data::Dataset& dataset,
                    int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < dataset.size(); begin += batch_size) {
    const int64_t end = std::min(dataset.size(), begin + batch_size);
    const auto logits = model->forward(dataset.images.slice(0, begin, end));
    const auto labels = dataset.labels.slice(0, begin, end);
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
  }
  model->train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(1, dataset.size()));
  return Evaluation{loss_sum / n, static_cast<double>(correct) / n};
}

std::string divergence(const torch::nn::Module& model, const config::TrainOptions& options,
                       int64_t step) {
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
                          double seconds) {
  const auto test = evaluate(model, held_out.test);
  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.steps = steps;
  metrics.train_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
  metrics.train_accuracy =
      seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  metrics.test_loss = test.loss;
  metrics.test_accuracy = test.accuracy;
  metrics.seconds = seconds;
  if (held_out.validation != nullptr)
    metrics.validation_accuracy = evaluate(model, *held_out.validation).accuracy;
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

nlohmann::json to_json(const EpochMetrics& m) {
  return {{"epoch", m.epoch},
          {"steps", m.steps},
          {"train_loss", m.train_loss},
          {"train_accuracy", m.train_accuracy},
          {"test_loss", m.test_loss},
          {"test_accuracy", m.test_accuracy},
          {"seconds", m.seconds},
          {"validation_accuracy", m.validation_accuracy ? nlohmann::json(*m.validation_accuracy)
                                                        : nlohmann::json(nullptr)},
          {"epsilon", m.epsilon ? nlohmann::json(*m.epsilon) : nlohmann::json(nullptr)}};
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& json) {
  EpochMetrics m;
  m.epoch = json.at("epoch").get<int64_t>();
  m.steps = json.at("steps").get<int64_t>();
  m.train_loss = json.at("train_loss").get<double>();
  m.train_accuracy = json.at("train_accuracy").get<double>();
  m.test_loss = json.at("test_loss").get<double>();
  m.test_accuracy = json.at("test_accuracy").get<double>();
  m.seconds = json.at("seconds").get<double>();
  if (json.at("validation_accuracy").is_number())
    m.validation_accuracy = json.at("validation_accuracy").get<double>();
  if (json.at("epsilon").is_number()) m.epsilon = json.at("epsilon").get<double>();
  return m;
}

std::string describe_epoch(const EpochMetrics& m, int64_t epochs, const std::string& extra) {
  const std::string validation =
      m.validation_accuracy ? fmt::format("val acc {:.2f}%  ", 100 * *m.validation_accuracy) : "";
  return fmt::format(
      "epoch {}/{}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  {}{}({:.1f}s)",
      m.epoch, epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss, 100 * m.test_accuracy,
      validation, extra.empty() ? "" : extra + "  ", m.seconds);
}

}  // namespace dpforge::train
