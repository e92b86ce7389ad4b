// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/train_loop.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>

#include "dpforge/train/optimizer.h"
#include "dpforge/train/progress.h"

namespace dpforge::train {
namespace {

using Clock = std::chrono::steady_clock;

// What the loop itself carries across steps (and snapshots): the result so far and the running
// statistics of the current epoch.
struct LoopState {
  TrainResult result;
  dp::BatchStats epoch_stats;
  double seconds_before = 0;  // wall time of the processes before a resume
  Clock::time_point start = Clock::now();

  double seconds() const {
    return seconds_before + std::chrono::duration<double>(Clock::now() - start).count();
  }
};

Snapshot snapshot_of(const LoopState& loop, const TrainingStep& step) {
  Snapshot snap;
  auto epochs = nlohmann::json::array();
  for (const auto& m : loop.result.epochs) epochs.push_back(to_json(m));
  snap.state = {{"kind", step.kind()},
                {"epochs", epochs},
                {"loss_sum", loop.epoch_stats.loss_sum},
                {"correct", loop.epoch_stats.correct},
                {"seen", loop.epoch_stats.examples},
                {"seconds", loop.seconds()}};
  step.save(snap);
  return snap;
}

void restore(LoopState& loop, TrainingStep& step, const RunCheckpoints& checkpoints,
             torch::nn::Module& model, std::FILE* progress) {
  const auto snap = unpack_snapshot(checkpoints.resume_from->payload, model, step.optimizer());
  const auto& state = snap.state;
  TORCH_CHECK(state.at("kind") == step.kind(), "the checkpoint is not of a ", step.kind(), " run");
  loop.result.steps = state.at("step").get<int64_t>();
  for (const auto& m : state.at("epochs")) loop.result.epochs.push_back(epoch_metrics_from_json(m));
  loop.epoch_stats = {state.at("loss_sum").get<double>(), state.at("correct").get<int64_t>(),
                      state.at("seen").get<int64_t>()};
  loop.seconds_before = state.at("seconds").get<double>();
  step.restore(snap);
  if (progress != nullptr) {
    fmt::print(progress, "resuming from {} (step {} of {}{})\n",
               checkpoints.resume_from->path.string(), loop.result.steps, step.planned_steps(),
               step.resume_note());
  }
}

double mean_loss(const dp::BatchStats& stats) {
  return stats.examples > 0 ? stats.loss_sum / static_cast<double>(stats.examples) : 0.0;
}
double accuracy(const dp::BatchStats& stats) {
  return stats.examples > 0
             ? static_cast<double>(stats.correct) / static_cast<double>(stats.examples)
             : 0.0;
}

// Epoch e (1-based) of E ends after ceil(e·T/E) of the T planned steps, so a run has exactly E
// epochs even when T is not a multiple of E (a Poisson run plans T = ceil(E/q) steps).
int64_t epoch_of_step(int64_t index, int64_t total, int64_t epochs) {
  return index * epochs / total + 1;
}
bool ends_epoch(int64_t steps_done, int64_t total, int64_t epochs) {
  return steps_done == total ||
         epoch_of_step(steps_done, total, epochs) != epoch_of_step(steps_done - 1, total, epochs);
}

// With step workers the loop's own thread runs one intra-op thread: its per-step ops (sampling,
// the divergence check) are small, and a pool of its own spinning beside the workers would take
// their CPUs (include/dpforge/dp/step_workers.h).
class LoopThreads {
 public:
  explicit LoopThreads(bool one) : before_(at::get_num_threads()), one_(one) {
    if (one_) at::set_num_threads(1);
  }
  ~LoopThreads() {
    if (one_) at::set_num_threads(before_);
  }
  LoopThreads(const LoopThreads&) = delete;
  LoopThreads& operator=(const LoopThreads&) = delete;

 private:
  int before_;
  bool one_;
};

}  // namespace

TrainResult run_train_loop(const TrainOptions& options, TrainingStep& step,
                           torch::nn::Sequential& model, const HeldOut& held_out,
                           std::FILE* progress, RunCheckpoints* checkpoints) {
  const int64_t total = step.planned_steps();
  const LoopThreads loop_threads(step.workers() != nullptr);
  LoopState loop;
  auto& result = loop.result;
  if (checkpoints != nullptr && checkpoints->resume_from) {
    restore(loop, step, *checkpoints, *model, progress);
    checkpoints->saved_step = result.steps;
  } else if (checkpoints != nullptr) {
    checkpoints->save(0, snapshot_of(loop, step), *model, step.optimizer());
  }
  ProgressLine line(progress, total, options.epochs(), result.steps);
  model->train();
  auto epoch_start = Clock::now();
  result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
  for (int64_t index = result.steps; index < total && result.stopped_early.empty(); ++index) {
    set_lr(step.optimizer(), scheduled_lr(options, index, total));
    const auto stats = step.take(index);
    if (!stats) break;
    loop.epoch_stats += *stats;
    ++result.steps;
    crash_here_if_requested(result.steps);
    result.diverged = divergence(*model, options, result.steps);
    if (!result.diverged.empty()) {
      if (progress != nullptr) fmt::print(progress, "\nstopping: {}\n", result.diverged);
      break;
    }
    line.update(epoch_of_step(index, total, options.epochs()), result.steps,
                mean_loss(loop.epoch_stats), accuracy(loop.epoch_stats), step.progress_note());
    if (ends_epoch(result.steps, total, options.epochs())) {
      const auto now = Clock::now();
      result.epochs.push_back(finish_epoch(
          model, held_out, static_cast<int64_t>(result.epochs.size()) + 1, result.steps,
          loop.epoch_stats.loss_sum, loop.epoch_stats.correct, loop.epoch_stats.examples,
          std::chrono::duration<double>(now - epoch_start).count(), step.workers()));
      epoch_start = now;
      const std::string note = step.end_epoch(result.epochs.back());
      line.epoch_done(describe_epoch(result.epochs.back(), options.epochs(), note));
      result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
      loop.epoch_stats = {};
    }
    if (checkpoints != nullptr && (checkpoints->due(result.steps) || result.steps == total ||
                                   !result.stopped_early.empty())) {
      checkpoints->save(result.steps, snapshot_of(loop, step), *model, step.optimizer());
    }
  }
  if (!result.stopped_early.empty() && progress != nullptr)
    fmt::print(progress, "{}\n", result.stopped_early);
  step.finish(result);
  result.test_accuracy = result.epochs.empty() ? 0.0 : result.epochs.back().test_accuracy;
  result.wall_seconds = loop.seconds();
  // A run that stopped between checkpoints for its own reason (the privacy budget) saves where it
  // is.
  if (checkpoints != nullptr && result.diverged.empty() && result.stopped_early.empty() &&
      checkpoints->saved_step != result.steps) {
    checkpoints->save(result.steps, snapshot_of(loop, step), *model, step.optimizer());
  }
  step.close(result);
  return result;
}

}  // namespace dpforge::train
