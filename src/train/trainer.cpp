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

EpochMetrics finish_epoch(torch::nn::Sequential& model, const data::Dataset& test_set, int64_t epoch,
                          int64_t steps, double loss_sum, int64_t correct, int64_t seen,
                          double seconds) {
  const auto test = evaluate(model, test_set);
  EpochMetrics metrics;
  metrics.epoch = epoch;
  metrics.steps = steps;
  metrics.train_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
  metrics.train_accuracy = seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  metrics.test_loss = test.loss;
  metrics.test_accuracy = test.accuracy;
  metrics.seconds = seconds;
  return metrics;
}

std::string describe_epoch(const EpochMetrics& m, int64_t epochs, const std::string& extra) {
  return fmt::format("epoch {}/{}  train loss {:.4f} acc {:.2f}%  test loss {:.4f} acc {:.2f}%  {}({:.1f}s)",
                     m.epoch, epochs, m.train_loss, 100 * m.train_accuracy, m.test_loss,
                     100 * m.test_accuracy, extra.empty() ? "" : extra + "  ", m.seconds);
}

TrainResult train_nonprivate(const config::Recipe& recipe, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const data::Dataset& test_set,
                             uint64_t seed, std::FILE* progress) {
  const auto& options = recipe.train;
  const int64_t n = train_set.size();
  const int64_t batch = std::min(options.batch_size(), n);
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  auto optimizer = make_optimizer(options, model->parameters());
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  ProgressLine line(progress, steps_per_epoch * options.epochs());

  const auto start = std::chrono::steady_clock::now();
  TrainResult result;
  model->train();
  for (int64_t epoch = 1; epoch <= options.epochs(); ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    const auto order = torch::randperm(n, generator, torch::kLong);
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t begin = 0; begin < n; begin += batch) {
      const int64_t end = std::min(n, begin + batch);
      set_lr(*optimizer, scheduled_lr(options, result.steps, steps_per_epoch * options.epochs()));
      optimizer->zero_grad();
      // Physical batches accumulate into one logical step; the loss is a mean over the logical
      // batch so the step does not depend on how it was split.
      for (int64_t chunk = begin; chunk < end; chunk += options.max_physical_batch()) {
        const auto index = order.slice(0, chunk, std::min(end, chunk + options.max_physical_batch()));
        const auto stats = backward_nonprivate(model, train_set.images.index_select(0, index),
                                               train_set.labels.index_select(0, index),
                                               static_cast<double>(end - begin));
        loss_sum += stats.loss_sum;
        correct += stats.correct;
      }
      optimizer->step();
      ++result.steps;
      line.update(epoch, options.epochs(), result.steps, loss_sum / static_cast<double>(end),
                  static_cast<double>(correct) / static_cast<double>(end));
    }
    result.epochs.push_back(finish_epoch(
        model, test_set, epoch, result.steps, loss_sum, correct, n,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count()));
    line.epoch_done(describe_epoch(result.epochs.back(), options.epochs()));
  }
  result.test_accuracy = result.epochs.empty() ? 0.0 : result.epochs.back().test_accuracy;
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dpforge::train
