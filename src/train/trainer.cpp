// SPDX-License-Identifier: Apache-2.0
// Non-private training: the ordinary mini-batch step inside the shared training loop.
#include "dpforge/train/trainer.h"

#include <torch/torch.h>

#include "dpforge/core/random.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"
#include "dpforge/train/train_loop.h"

namespace dpforge::train {
namespace {

// Each epoch visits a fresh random permutation of the training set in batches of
// train.batch_size; physical batches of at most train.max_physical_batch accumulate into one step.
class NonprivateStep final : public TrainingStep {
 public:
  NonprivateStep(const TrainOptions& options, torch::nn::Sequential& model,
                 const data::Dataset& train_set, uint64_t seed)
      : options_(options),
        model_(model),
        train_set_(train_set),
        batch_(std::min(options.batch_size(), train_set.size())),
        steps_per_epoch_((train_set.size() + batch_ - 1) / batch_),
        optimizer_(make_optimizer(options, model->parameters())),
        generator_(at::make_generator<at::CPUGeneratorImpl>(seed)),
        epoch_generator_state_(generator_.get_state()) {}

  std::string kind() const override { return "nonprivate"; }
  int64_t planned_steps() const override { return steps_per_epoch_ * options_.epochs(); }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }

  std::optional<dp::BatchStats> take(int64_t step) override {
    const int64_t n = train_set_.size();
    if (step % steps_per_epoch_ == 0 || !order_.defined()) {
      // The batch order of an epoch is a function of the generator's state at its start.
      generator_.set_state(epoch_generator_state_);
      order_ = torch::randperm(n, generator_, torch::kLong).to(train_set_.inputs.device());
    }
    const int64_t begin = (step % steps_per_epoch_) * batch_, end = std::min(n, begin + batch_);
    optimizer_->zero_grad();
    // The loss is a mean over the logical batch, so the step does not depend on how it is split.
    dp::BatchStats stats;
    for (int64_t chunk = begin; chunk < end; chunk += options_.max_physical_batch()) {
      const auto index =
          order_.slice(0, chunk, std::min(end, chunk + options_.max_physical_batch()));
      stats += backward_nonprivate(model_, train_set_.inputs.index_select(0, index),
                                   train_set_.labels.index_select(0, index),
                                   static_cast<double>(end - begin), loss_);
    }
    optimizer_->step();
    return stats;
  }

  std::string end_epoch(EpochMetrics& /*metrics*/) override {
    epoch_generator_state_ = generator_.get_state();
    return "";
  }

  void save(Snapshot& snapshot) const override {
    snapshot.tensors["epoch_generator_state"] = epoch_generator_state_;
  }
  void restore(const Snapshot& snapshot) override {
    epoch_generator_state_ = snapshot.tensors.at("epoch_generator_state");
  }

 private:
  const TrainOptions& options_;
  torch::nn::Sequential& model_;
  const data::Dataset& train_set_;
  dp::PerExampleLoss loss_ = task_loss(train_set_.task, options_);
  const int64_t batch_, steps_per_epoch_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  at::Generator generator_;
  torch::Tensor epoch_generator_state_;
  torch::Tensor order_;  // the current epoch's permutation
};

}  // namespace

PrivateSeeds auditor_run_seeds(uint64_t seed, bool secure_noise) {
  // Purposes of the seeds derived from one run's seed.
  constexpr uint64_t kSamplerPurpose = 1, kNoisePurpose = 2, kSensitivityCheckPurpose = 3;
  return {derive_seed(seed, kSamplerPurpose), derive_seed(seed, kNoisePurpose), secure_noise,
          derive_seed(seed, kSensitivityCheckPurpose)};
}

TrainResult train_nonprivate(const TrainOptions& options, torch::nn::Sequential& model,
                             const data::Dataset& train_set, const HeldOut& held_out, uint64_t seed,
                             std::FILE* progress, RunCheckpoints* checkpoints) {
  NonprivateStep step(options, model, train_set, seed);
  return run_train_loop(options, step, model, held_out, progress, checkpoints);
}

}  // namespace dpforge::train
