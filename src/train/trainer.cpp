// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/trainer.h"

#include <chrono>

#include <torch/torch.h>

#include "dpforge/train/optimizer.h"
#include "dpforge/train/progress.h"
#include "dpforge/train/steps.h"

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
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
  }
  model->train(was_training);
  const double n = static_cast<double>(std::max<int64_t>(1, dataset.size()));
  return Evaluation{loss_sum / n, static_cast<double>(correct) / n};
}

std::string divergence(const torch::nn::Module& model, const config::Recipe& recipe, int64_t step) {
  torch::NoGradGuard no_grad;
  for (const auto& parameter : model.named_parameters()) {
    if (!torch::isfinite(parameter.value()).all().item<bool>()) {
      return fmt::format("parameter {} became NaN/Inf at step {}: training diverged; lower train.lr "
                         "(now {}) or train.weight_decay (now {})",
                         parameter.key(), step, recipe.train.lr(), recipe.train.weight_decay());
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
  metrics.train_accuracy = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  metrics.test_loss = test.loss;
  metrics.test_accuracy = test.accuracy;
  metrics.seconds = seconds;
  if (held_out.validation != nullptr) metrics.validation_accuracy = evaluate(model, *held_out.validation).accuracy;
  return metrics;
}

std::string early_stop_reason(const std::vector<EpochMetrics>& epochs, int64_t patience) {
  if (patience <= 0 || epochs.empty() || !epochs.back().validation_accuracy) return "";
  size_t best = 0;
  for (size_t i = 1; i < epochs.size(); ++i) {
    if (*epochs[i].validation_accuracy > *epochs[best].validation_accuracy) best = i;
  }
  if (epochs.size() - 1 - best < static_cast<size_t>(patience)) return "";
  return fmt::format("early stopping after epoch {}: validation accuracy has not improved for {} epochs "
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
          {"validation_accuracy", m.validation_accuracy ? nlohmann::json(*m.validation_accuracy) : nlohmann::json(nullptr)},
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
  if (json.at("validation_accuracy").is_number()) m.validation_accuracy = json.at("validation_accuracy").get<double>();
  if (json.at("epsilon").is_number()) m.epsilon = json.at("epsilon").get<double>();
  return m;
}

std::string describe_epoch(const EpochMetrics& m, int64_t epochs, const std::string& extra) {
  const std::string validation =
      m.validation_accuracy ? fmt::format("val acc {:.2f}%  ", 100 * *m.validation_accuracy) : "";
  return fmt::format("epoch {}/{}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  {}{}({:.1f}s)",
                     m.epoch, epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss,
                     100 * m.test_accuracy, validation, extra.empty() ? "" : extra + "  ", m.seconds);
}

TrainResult train_nonprivate(const config::Recipe& recipe, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const HeldOut& held_out,
                             uint64_t seed, std::FILE* progress, RunCheckpoints* checkpoints) {
  const auto& options = recipe.train;
  const int64_t n = train_set.size();
  const int64_t batch = std::min(options.batch_size(), n);
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int64_t total_steps = steps_per_epoch * options.epochs();
  auto optimizer = make_optimizer(options, model->parameters());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  ProgressLine line(progress, total_steps);

  const auto start = std::chrono::steady_clock::now();
  TrainResult result;
  double loss_sum = 0, seconds_before = 0;
  int64_t correct = 0;
  // The batch order of an epoch is a function of the generator's state at its start.
  torch::Tensor epoch_generator_state = generator.get_state();
  const int64_t interval = checkpoints != nullptr ? checkpoints->interval(steps_per_epoch) : 0;
  auto snapshot = [&]() {
    Snapshot snap;
    auto epochs = nlohmann::json::array();
    for (const auto& m : result.epochs) epochs.push_back(to_json(m));
    snap.state = {{"kind", "nonprivate"},
                  {"epochs", epochs},
                  {"loss_sum", loss_sum},
                  {"correct", correct},
                  {"seconds", seconds_before + std::chrono::duration<double>(
                                                   std::chrono::steady_clock::now() - start).count()}};
    snap.tensors["epoch_generator_state"] = epoch_generator_state;
    return snap;
  };
  if (checkpoints != nullptr && checkpoints->resume_from) {
    const auto snap = unpack_snapshot(checkpoints->resume_from->payload, *model, *optimizer);
    TORCH_CHECK(snap.state.at("kind") == "nonprivate", "the checkpoint is not of a non-private run");
    result.steps = snap.state.at("step").get<int64_t>();
    for (const auto& m : snap.state.at("epochs")) result.epochs.push_back(epoch_metrics_from_json(m));
    loss_sum = snap.state.at("loss_sum").get<double>();
    correct = snap.state.at("correct").get<int64_t>();
    seconds_before = snap.state.at("seconds").get<double>();
    epoch_generator_state = snap.tensors.at("epoch_generator_state");
    if (progress != nullptr) {
      fmt::print(progress, "resuming from {} (step {} of {})\n", checkpoints->resume_from->path.string(),
                 result.steps, total_steps);
    }
  } else if (checkpoints != nullptr) {
    checkpoints->save(0, snapshot(), *model, *optimizer);
  }

  model->train();
  auto epoch_start = std::chrono::steady_clock::now();
  result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
  for (int64_t epoch = result.steps / steps_per_epoch + 1;
       epoch <= options.epochs() && result.diverged.empty() && result.stopped_early.empty(); ++epoch) {
    generator.set_state(epoch_generator_state);
    const auto order = torch::randperm(n, generator, torch::kLong).to(train_set.images.device());
    for (int64_t begin = (result.steps % steps_per_epoch) * batch; begin < n; begin += batch) {
      const int64_t end = std::min(n, begin + batch);
      set_lr(*optimizer, scheduled_lr(options, result.steps, total_steps));
      optimizer->zero_grad();
      // Physical batches accumulate into one logical step; the loss is a mean over the logical
      // batch so the step does not depend on how it was split.
      for (int64_t chunk = begin; chunk < end; chunk += options.max_physical_batch()) {
        const auto index = order.slice(0, chunk, std::min(end, chunk + options.max_physical_batch()));
        const auto stats = backward_nonprivate(model, train_set.images.index_select(0, index),
                                               train_set.labels.index_select(0, index),
                                               static_cast<double>(end - begin), options.label_smoothing());
        loss_sum += stats.loss_sum;
        correct += stats.correct;
      }
      optimizer->step();
      ++result.steps;
      crash_here_if_requested(result.steps);
      result.diverged = divergence(*model, recipe, result.steps);
      if (!result.diverged.empty()) {
        if (progress != nullptr) fmt::print(progress, "\nstopping: {}\n", result.diverged);
        break;
      }
      line.update(epoch, options.epochs(), result.steps, loss_sum / static_cast<double>(end),
                  static_cast<double>(correct) / static_cast<double>(end));
      if (end == n) {
        const auto now = std::chrono::steady_clock::now();
        result.epochs.push_back(finish_epoch(model, held_out, epoch, result.steps, loss_sum, correct, n,
                                             std::chrono::duration<double>(now - epoch_start).count()));
        epoch_start = now;
        line.epoch_done(describe_epoch(result.epochs.back(), options.epochs()));
        loss_sum = 0;
        correct = 0;
        epoch_generator_state = generator.get_state();
        result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
      }
      if (checkpoints != nullptr &&
          (result.steps % interval == 0 || result.steps == total_steps || !result.stopped_early.empty())) {
        checkpoints->save(result.steps, snapshot(), *model, *optimizer);
      }
    }
    if (!result.stopped_early.empty() && progress != nullptr) fmt::print(progress, "{}\n", result.stopped_early);
  }
  result.test_accuracy = result.epochs.empty() ? 0.0 : result.epochs.back().test_accuracy;
  result.wall_seconds =
      seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dpforge::train
