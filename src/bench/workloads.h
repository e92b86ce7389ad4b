// SPDX-License-Identifier: Apache-2.0
// The benchmark's workloads and the step variants it times against each other (non-private and
// DP-SGD with each clipping mode), stepped round-robin so a noisy machine hits all alike.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dpforge/audit/sensitivity_check.h"
#include "dpforge/core/tensor_memory_meter.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/tape.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/train/steps.h"

namespace dpforge::bench {

/// Median wall time (ms) of `step` over `repeats` runs after `warmup` untimed ones.
template <typename Step>
double median_ms(int repeats, Step&& step, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) step();  // warm-up: allocator, caches, thread pool
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Workload {
  torch::nn::Sequential model;
  torch::Tensor inputs, labels;
};

// Shape knobs for the cost-growth tables: sequence length of token_block (default 64), width of
// mlp.
struct Shapes {
  int64_t tokens = 64;
  int64_t mlp_hidden = 256;
};

/// --data-parallel: this process is one rank of WORLD_SIZE (the torchrun environment); each
/// rank steps DP-SGD (flat clipping) on its slice of every batch, the sums all-reduced over Gloo,
/// and rank 0 prints one JSON object per model and batch (scripts/bench_distributed.py).
int bench_data_parallel(const std::vector<std::string>& models, const std::vector<int64_t>& batches,
                        int repeats, int warmup, const Shapes& shapes);

/// mlp, cnn_tanh, wrn16_4 (28 x 28 images) or token_block (token sequences), seeded, on `device`.
Workload make_workload(const std::string& arch, int64_t batch, const Shapes& shapes,
                       const torch::Device& device);

// One training step of a variant: "nonprivate" or DP-SGD with a clipping mode.
struct Variant {
  std::string name;
  std::function<void()> step;
  std::vector<double> times_ms;
  int64_t peak_tensor_bytes = 0;  // the most CPU tensor memory live during one of its steps
};

/// Steps the variants in turn (round-robin) after `warmup` untimed steps each; with a meter, also
/// the peak of live CPU tensor bytes during each variant's own steps.
void time_interleaved(std::vector<Variant>& variants, int repeats, int warmup,
                      const torch::Device& device, TensorMemoryMeter* meter = nullptr);

double median_of(std::vector<double> values);

/// A DP forward of the workload on `tape`: per-example cross-entropy losses.
torch::Tensor dp_forward_losses(Workload& work, dp::GradTape& tape);

// A DP-SGD step on the workload's fixed batch through the stages dp::dp_sgd_step runs (all but
// the sampling, which a fixed batch replaces), so that what is timed is exactly what trains.
struct DpStepper {
  dp::DpPlan plan;
  std::unique_ptr<torch::optim::Optimizer> inner;
  dp::NoiseGenerator noise;
  privacy::Accountant& accountant;
  std::optional<dp::ClippedSum> sum;
  /// A data-parallel step's all-reduce (this rank holds its slice of the batch); null: one process.
  dp::CrossRankSum* ranks = nullptr;

  // As dp::dp_sgd_step: only the trainable parameters are privatized and stepped.
  static std::vector<torch::Tensor> trainable(const Workload& work) {
    return dp::trainable_parameters(*work.model);
  }
  void accumulate(Workload& work, std::vector<dp::PerSampleLayer> layers) {
    if (!sum) sum.emplace(trainable(work));
    sum->add(std::move(layers), plan.clip);
  }
  void finish(Workload& work) {
    if (!sum) sum.emplace(trainable(work));
    if (ranks != nullptr) sum->sum_across_ranks(*ranks);
    auto gradients =
        dp::privatize(std::move(*sum), plan.noise_std, plan.expected_batch_size, noise);
    sum.reset();
    dp::step_inner(trainable(work), gradients, *inner);
    accountant.compose(plan.dp_event());
  }
  void step(Workload& work) {
    sum.emplace(trainable(work));
    dp::clip_and_accumulate(work.model, train::cross_entropy_loss(), work.inputs, work.labels,
                            plan.clip, *sum);
    finish(work);
  }
};

// One sensitivity check (audit/sensitivity_check.h) on the workload's batch, as a private run
// makes it at a checked step: what a step costs more when it is checked.
struct CheckRig {
  CheckRig(Workload& work, std::unique_ptr<torch::optim::Optimizer> optimizer);
  void step() { check.after_clipping(plan, target, batch); }

  data::Dataset data;
  std::unique_ptr<torch::optim::Optimizer> inner;  // the target's; the check never steps it
  dp::DpSgdTarget target;
  dp::DpPlan plan;
  audit::SensitivityCheck check;
  std::vector<int64_t> batch;  // the step's examples: the whole workload batch
};

// The variants of one cell — "nonprivate" or DP-SGD with a clipping mode — and the optimizers
// and accountant they step. Filled in place (the DP optimizers hold a reference to the accountant).
struct VariantSet {
  std::vector<Variant> variants;
  std::vector<std::unique_ptr<torch::optim::Optimizer>> plain_optimizers;
  std::vector<std::unique_ptr<DpStepper>> dp_optimizers;
  std::vector<std::unique_ptr<CheckRig>> checks;
  privacy::RdpAccountant accountant;
};

/// Adds the named variants ("nonprivate", "flat", "per_layer", "automatic", "sensitivity_check":
/// one check with flat clipping, not a step) of `work` to `set`.
void add_variants(VariantSet& set, Workload& work, int64_t batch,
                  const std::vector<std::string>& names, bool secure);

/// Non-private and flat-clipping DP-SGD step times (medians, interleaved) of one workload.
std::pair<double, double> time_nonprivate_and_dp(Workload& work, int64_t batch, int repeats,
                                                 const torch::Device& device);

}  // namespace dpforge::bench
