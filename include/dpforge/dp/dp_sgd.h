// SPDX-License-Identifier: Apache-2.0
// One DP-SGD step, in the order that makes it private (dp_sgd_step, src/dp/dp_sgd.cpp):
//   sample → per physical batch: forward on the tape, per-example norms, clip, sum →
//   noise once → ÷ q·N → inner optimizer step → observers (the accountant, the auditor).
// The stages are public functions so that the benchmark times exactly what trains; observers
// attach through StepHook (Opacus's step hook), never through pointers inside the mechanism.
//
// Example:
//   dp::DpSgdState state{data::PoissonSampler(plan.dataset_size, plan.sample_rate, seed),
//                        dp::NoiseGenerator(noise_seed)};
//   dp::AccountantHook accounting(*accountant, plan);
//   std::vector<dp::StepHook*> hooks{&accounting};
//   for (int64_t t = 0; t < plan.planned_steps; ++t) dp::dp_sgd_step(plan, state, target, hooks);
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "dpforge/data/dataset.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/clipping.h"
#include "dpforge/dp/data_parallel.h"
#include "dpforge/dp/noise.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/dp/plan.h"
#include "dpforge/dp/step_workers.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::dp {

/// Per-example losses of a batch: the model's outputs and the labels → one loss per example.
using PerExampleLoss =
    std::function<torch::Tensor(const torch::Tensor& outputs, const torch::Tensor& labels)>;

/// Training statistics of a batch (not private: computed on the data without noise).
struct BatchStats {
  double loss_sum = 0;  // Σ of per-example losses
  int64_t correct = 0;
  int64_t examples = 0;
  BatchStats& operator+=(const BatchStats& other) {
    loss_sum += other.loss_sum;
    correct += other.correct;
    examples += other.examples;
    return *this;
  }
};

/// Examples whose largest output is their label (classification: B x classes outputs, B integer
/// labels); 0 for any other task.
int64_t count_correct(const torch::Tensor& outputs, const torch::Tensor& labels);

/// Σᵢ cᵢ gᵢ of one logical step, per privatized tensor. Nothing may rescale or reshape it before
/// the noise: its sensitivity to one example is exactly C.
class ClippedSum {
 public:
  /// `tensors` are privatized in this order (which is also the order of their noise blocks): the
  /// model's parameters, then tensors hooks bring (the auditor's canary coordinates).
  explicit ClippedSum(std::vector<torch::Tensor> tensors);
  /// Clips one physical batch's per-example gradients and adds them, consuming `layers` (an example
  /// whose norm is NaN/Inf contributes nothing and is counted in dropped()).
  void add(std::vector<PerSampleLayer> layers, const ClipOptions& clip);
  /// Adds another sum of the same step (one physical batch's), consuming it.
  void add(ClippedSum&& part);
  /// The running sum of `tensor` (zeros until something is added), for contributions that do not
  /// come from a tape (the auditor's Dirac canaries).
  torch::Tensor& of(const torch::Tensor& tensor);
  const std::vector<torch::Tensor>& tensors() const { return tensors_; }
  int64_t dropped() const { return dropped_; }
  /// Replaces each tensor's sum by its sum over all ranks (data_parallel.h, step 3): one flat
  /// buffer of every tensor in order, zeros where this rank added nothing, so that every rank
  /// joins with the same shapes whatever its batch held. Afterwards every tensor has a sum.
  void sum_across_ranks(CrossRankSum& ranks);
  /// Whether anything was added for `tensor` (a clipped sum, even of zeros).
  bool has(const torch::Tensor& tensor) const {
    return sums_.count(tensor.unsafeGetTensorImpl()) != 0;
  }

 private:
  friend std::vector<torch::Tensor> privatize(ClippedSum sum, double noise_std,
                                              double expected_batch_size, NoiseGenerator& noise);
  std::vector<torch::Tensor> tensors_;
  std::unordered_map<const void*, torch::Tensor> sums_;  // by tensor storage
  int64_t dropped_ = 0;
};

/// One physical batch: forward on a DP tape, one backward to the layer outputs, per-example norms,
/// clip factors, and the clipped sum added to `sum`.
BatchStats clip_and_accumulate(torch::nn::Sequential& model, const PerExampleLoss& loss,
                               const torch::Tensor& inputs, const torch::Tensor& labels,
                               const ClipOptions& clip, ClippedSum& sum);

/// (Σᵢ cᵢ gᵢ + N(0, noise_std²)) / expected_batch_size for every tensor of `sum`, in its order: the
/// noise once on the whole logical step (also for an empty batch), blocks reserved from `noise`.
std::vector<torch::Tensor> privatize(ClippedSum sum, double noise_std, double expected_batch_size,
                                     NoiseGenerator& noise);

/// The parameters a DP step privatizes and updates: the trainable ones (requires_grad), in the
/// model's order; frozen ones are released as they are (nn/trainable.h).
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model);

/// Sets each parameter's gradient to its privatized one (parameters[k] ↔ gradients[k]), steps the
/// inner optimizer (post-processing: free of privacy cost), and drops the gradients again.
void step_inner(const std::vector<torch::Tensor>& parameters,
                const std::vector<torch::Tensor>& gradients, torch::optim::Optimizer& inner);

struct DpSgdTarget;

/// An observer of DP-SGD steps, and the way examples that are not the model's join them: the
/// auditor's canaries are examples of the same population, Poisson-sampled with the real ones,
/// their gradients clipped and summed by the same clip_and_sum, their coordinates noised in the
/// same launch. Every phase is optional.
class StepHook {
 public:
  virtual ~StepHook() = default;
  /// Tensors privatized with the model's parameters, in the same noise launch, after them.
  virtual std::vector<torch::Tensor> privatized_tensors() { return {}; }
  /// Examples this hook adds to the population the sampler draws from (after the real ones).
  virtual int64_t extra_examples() const { return 0; }
  /// The per-example gradients of the sampled ones among them (ids 0-based among this hook's), as
  /// layers for the clipped sum (on privatized_tensors()).
  virtual std::vector<PerSampleLayer> extra_gradients(std::span<const int64_t> /*sampled*/) {
    return {};
  }
  /// After the step's real examples (`real`, indices into target.train_set) are clipped and summed
  /// and before anything else: the model's parameters are still the step's, so an observer can
  /// re-run the mechanism's clipped sum on examples of its choosing (clip_examples) and compare it
  /// with an independent computation (audit/sensitivity_check.h).
  virtual void after_clipping(const DpPlan& /*plan*/, DpSgdTarget& /*target*/,
                              std::span<const int64_t> /*real*/) {}
  /// The privatized values of privatized_tensors(), in order (what an adversary would see).
  virtual void after_noise(std::span<const torch::Tensor> /*privatized*/) {}
  /// After the inner step.
  virtual void after_step() {}
};

/// The accountant as an observer: records the plan's (σ, q) once per step taken (invariant 6).
/// The one place a run's accountant is told about DP-SGD steps, resumed ones included.
class AccountantHook final : public StepHook {
 public:
  AccountantHook(privacy::Accountant& accountant, const DpPlan& claimed)
      : accountant_(accountant), event_(claimed.dp_event()) {}
  void after_step() override { accountant_.compose(event_); }
  /// A resumed run: the `steps` steps a checkpoint says were taken before it, all of this plan's
  /// (σ, q) (a checkpoint of another mechanism is refused before this is reached).
  void resume_after(int64_t steps) {
    if (steps > 0) accountant_.compose({event_.noise_multiplier, event_.sample_rate, steps});
  }

 private:
  privacy::Accountant& accountant_;
  privacy::SgmSteps event_;
};

/// Everything the mechanism carries from one step to the next (checkpoints save it). The sampler
/// draws from the plan's N real examples followed by the hooks' extra examples.
struct DpSgdState {
  data::PoissonSampler sampler;
  NoiseGenerator noise;
  int64_t examples_dropped = 0;  // NaN/Inf examples dropped so far (a non-private diagnostic)
};

/// What a step trains: the model, the inner optimizer over its parameters, the private training
/// set, the loss, and how the step runs (performance settings, not part of the plan): the physical
/// batch size and the workers that take the physical batches (null: one after the other on the
/// caller; the sums are added in batch order either way, so which worker took which batch does
/// not change a bit of the result).
struct DpSgdTarget {
  torch::nn::Sequential& model;
  torch::optim::Optimizer& inner;
  const data::Dataset& train_set;
  PerExampleLoss loss;
  int64_t max_physical_batch = 256;
  StepWorkers* workers = nullptr;
  /// One rank of a data-parallel step (data_parallel.h); null: one process holding all N.
  const DataParallel* data_parallel = nullptr;
};

/// Σᵢ cᵢ gᵢ over `examples` (indices into target.train_set, ascending) into `sum`: the model's
/// forward and DP backward one physical batch at a time (on target.workers where there are some),
/// each batch's sum added in batch order, so the float sum is the same for any number of workers.
BatchStats clip_examples(DpSgdTarget& target, const ClipOptions& clip,
                         std::span<const int64_t> examples, ClippedSum& sum);

/// One logical DP-SGD step of `plan`; returns the (non-private) statistics of the sampled batch.
/// Only the model's trainable parameters (requires_grad) are privatized and stepped; one that
/// received no per-example gradient from a non-empty batch (its layer in eval mode, or bypassed)
/// is an InputError naming it, not a silent noise-only update.
BatchStats dp_sgd_step(const DpPlan& plan, DpSgdState& state, DpSgdTarget& target,
                       std::span<StepHook* const> hooks = {});

}  // namespace dpforge::dp
