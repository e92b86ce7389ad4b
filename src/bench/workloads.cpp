// SPDX-License-Identifier: Apache-2.0
#include "src/bench/workloads.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <numeric>

#include "dpforge/nn/layers.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/trainable.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"

namespace dpforge::bench {
namespace {

// A transformer-style block on token sequences (T = 64), the shape that exercises the ghost norm
// of Linear layers on 3-D inputs, Embedding and LayerNorm; mirrored by scripts/bench_vs_opacus.py.
struct MeanOverTokensImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return x.mean(1); }
};
TORCH_MODULE(MeanOverTokens);

constexpr int64_t kVocabulary = 1024, kWidth = 128;

torch::nn::Sequential make_token_block() {
  return torch::nn::Sequential(
      nn::Embedding(nn::EmbeddingOptions(kVocabulary, kWidth)),
      nn::LayerNorm(nn::LayerNormOptions({kWidth})), nn::Linear(kWidth, 4 * kWidth),
      torch::nn::Tanh(), nn::Linear(4 * kWidth, kWidth),
      nn::LayerNorm(nn::LayerNormOptions({kWidth})), MeanOverTokens(), nn::Linear(kWidth, 10));
}

}  // namespace

Workload make_workload(const std::string& arch, int64_t batch, const Shapes& shapes,
                       const torch::Device& device) {
  torch::manual_seed(0);
  Workload work;
  if (arch == "token_block") {
    work.model = make_token_block();
    work.inputs = torch::randint(kVocabulary, {batch, shapes.tokens}, torch::kLong);
  } else {
    work.model = nn::make_model(
        nn::ModelOptions().arch(*nn::kArchNames.parse(arch)).mlp_hidden(shapes.mlp_hidden));
    work.inputs = torch::rand({batch, 1, 28, 28});
  }
  work.labels = torch::randint(10, {batch}, torch::kLong);
  work.model->to(device);
  work.inputs = work.inputs.to(device);
  work.labels = work.labels.to(device);
  return work;
}

// Steps the variants in turn (round-robin), so that a slow spell of a shared machine hits all of
// them alike; warm-up steps first (allocator, caches, thread pool).
// With a meter, also the peak of live CPU tensor bytes during each variant's own steps.
void time_interleaved(std::vector<Variant>& variants, int repeats, int warmup,
                      const torch::Device& device, TensorMemoryMeter* meter) {
  // GPU work is asynchronous: a step is over when the device is idle again.
  const auto finish = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  for (auto& variant : variants) {
    for (int i = 0; i < warmup; ++i) variant.step();
    finish();
  }
  for (int r = 0; r < repeats; ++r) {
    for (auto& variant : variants) {
      if (meter != nullptr) meter->reset_peak();
      const auto start = std::chrono::steady_clock::now();
      variant.step();
      finish();
      variant.times_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (meter != nullptr)
        variant.peak_tensor_bytes = std::max(variant.peak_tensor_bytes, meter->peak_bytes());
    }
  }
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A DP forward of the workload on `tape`: per-example cross-entropy losses, as in
// dp::clip_and_accumulate with train::cross_entropy_loss (label smoothing 0).
torch::Tensor dp_forward_losses(Workload& work, dp::GradTape& tape) {
  dp::TapeGuard guard(tape);
  return torch::nn::functional::cross_entropy(
      work.model->forward(work.inputs), work.labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

CheckRig::CheckRig(Workload& work, std::unique_ptr<torch::optim::Optimizer> optimizer)
    : data{work.inputs, work.labels, 10},
      inner(std::move(optimizer)),
      target{work.model, *inner, data, train::cross_entropy_loss(), 256},
      check(/*seed=*/1, /*step_rate=*/1.0),
      batch(static_cast<size_t>(work.inputs.size(0))) {
  plan.clip = dp::ClipOptions().max_grad_norm(1.0);
  std::iota(batch.begin(), batch.end(), int64_t{0});
}

void add_variants(VariantSet& set, Workload& work, int64_t batch,
                  const std::vector<std::string>& names, bool secure) {
  train::TrainOptions train_options;
  train_options.lr(1e-3);
  for (const auto& name : names) {
    // Raw pointers: the vectors owning the optimizers may reallocate while variants are added.
    if (name == "nonprivate") {
      auto* plain =
          set.plain_optimizers
              .emplace_back(train::make_optimizer(train_options, work.model->parameters()))
              .get();
      set.variants.push_back({name,
                              [&work, plain, batch] {
                                plain->zero_grad();
                                train::backward_nonprivate(work.model, work.inputs, work.labels,
                                                           static_cast<double>(batch),
                                                           train::cross_entropy_loss());
                                plain->step();
                                // Like dp::step_inner: no gradient is held between steps, so
                                // neither variant's leftovers count in the other's peak.
                                plain->zero_grad();
                              },
                              {}});
      continue;
    }
    if (name == "sensitivity_check") {
      auto* rig = set.checks
                      .emplace_back(std::make_unique<CheckRig>(
                          work, train::make_optimizer(train_options, work.model->parameters())))
                      .get();
      set.variants.push_back({name, [rig] { rig->step(); }, {}});
      continue;
    }
    // last_layer: DP fine-tuning of the classifier alone (model.trainable = last), flat clipping.
    const bool last_layer = name == "last_layer";
    dp::DpPlan plan;
    plan.clip = dp::ClipOptions().max_grad_norm(1.0).mode(
        last_layer ? dp::ClipMode::kFlat : *dp::kClipModeNames.parse(name));
    plan.noise_multiplier = 1.0;
    plan.noise_std = 1.0;
    plan.sample_rate = 0.01;
    plan.expected_batch_size = static_cast<double>(batch);
    auto* optimizer = set.dp_optimizers
                          .emplace_back(std::make_unique<DpStepper>(DpStepper{
                              plan, train::make_optimizer(train_options, work.model->parameters()),
                              dp::NoiseGenerator(1, 0, secure), set.accountant, std::nullopt}))
                          .get();
    if (last_layer) {
      // The variants share one model: it is frozen for this variant's steps only, by tensors
      // chosen once, so that the timed step holds no pattern matching.
      nn::freeze_all_but(*work.model, "last");
      std::vector<torch::Tensor> frozen;
      for (const auto& parameter : work.model->parameters())
        if (!parameter.requires_grad()) frozen.push_back(parameter);
      nn::freeze_all_but(*work.model, "all");
      const auto set_frozen = [frozen](bool on) {
        for (auto parameter : frozen) parameter.set_requires_grad(!on);
      };
      set.variants.push_back({name,
                              [&work, optimizer, set_frozen] {
                                set_frozen(true);
                                optimizer->step(work);
                                set_frozen(false);
                              },
                              {}});
      continue;
    }
    set.variants.push_back({name, [&work, optimizer] { optimizer->step(work); }, {}});
  }
}

std::pair<double, double> time_nonprivate_and_dp(Workload& work, int64_t batch, int repeats,
                                                 const torch::Device& device) {
  VariantSet set;
  add_variants(set, work, batch, {"nonprivate", "flat"}, /*secure=*/false);
  time_interleaved(set.variants, repeats, 2, device);
  return {median_of(set.variants[0].times_ms), median_of(set.variants[1].times_ms)};
}

}  // namespace dpforge::bench
