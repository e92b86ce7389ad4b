// SPDX-License-Identifier: Apache-2.0
// The one training loop, shared by private and non-private training: learning-rate schedule,
// epochs, progress, divergence, early stopping, checkpoints and resume. What differs between the
// two is how one step is taken (TrainingStep): a DP-SGD step with its ledger and budget, or a plain
// mini-batch step over a shuffled epoch.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "dpforge/dp/dp_sgd.h"
#include "dpforge/train/checkpoint.h"
#include "dpforge/train/options.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {

class TrainingStep {
 public:
  virtual ~TrainingStep() = default;
  /// "private" or "nonprivate": a checkpoint of one kind is refused by the other.
  virtual std::string kind() const = 0;
  /// The steps the run plans, and how many make an epoch (for epochs, checkpoints and progress).
  virtual int64_t planned_steps() const = 0;
  virtual int64_t steps_per_epoch() const = 0;
  /// The inner optimizer: its state goes into checkpoints, its learning rate follows the schedule.
  virtual torch::optim::Optimizer& optimizer() = 0;
  /// Takes step `step` (0-based) and returns its batch statistics; nullopt when the run must stop
  /// before it (the privacy budget), having said why on the progress stream.
  virtual std::optional<dp::BatchStats> take(int64_t step) = 0;
  /// At the end of an epoch: may add to its metrics; returns a note for the progress line.
  virtual std::string end_epoch(EpochMetrics& /*metrics*/) { return ""; }
  /// After each step, for the live progress line; cheap (it runs every step on a terminal).
  virtual std::string progress_note() const { return ""; }
  /// This kind's state in a snapshot, and back (resume).
  virtual void save(Snapshot& snapshot) const = 0;
  virtual void restore(const Snapshot& snapshot) = 0;
  /// What a resume message adds after "step s of T".
  virtual std::string resume_note() const { return ""; }
  /// After the last step, before the final checkpoint; then close() after it.
  virtual void finish(TrainResult& /*result*/) {}
  virtual void close(const TrainResult& /*result*/) {}
  /// The threads the steps run on, if any (dp/step_workers.h): the loop then keeps its own thread
  /// to one intra-op thread and evaluates on them.
  virtual dp::StepWorkers* workers() { return nullptr; }
};

/// Runs `step` to the end of the plan (or until it stops, diverges or stops early), evaluating on
/// `held_out` after every epoch. With `checkpoints`, snapshots go to its store and a resume point
/// is continued bit for bit.
TrainResult run_train_loop(const TrainOptions& options, TrainingStep& step,
                           torch::nn::Sequential& model, const HeldOut& held_out,
                           std::FILE* progress, RunCheckpoints* checkpoints);

}  // namespace dpforge::train
