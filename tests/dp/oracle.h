// SPDX-License-Identifier: Apache-2.0
// The independent reference the DP engine is tested against: per-example gradients from a loop over
// batches of one with plain autograd (Opacus's micro-batch oracle), and the check of norms and of
// flat, per-layer and automatic clipped sums against it.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "dpforge/dp/clipping.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/dp/tape.h"

namespace dpforge::dp {

// Per-example gradients and norms must match the loop to 1e-6 relative in float64.
inline constexpr double kRelTol = 1e-6;

using LossFn = std::function<torch::Tensor(const torch::Tensor& output, const torch::Tensor& aux)>;

// Per-example losses: a fixed random nonlinear functional of the output, so that G is not trivial.
inline torch::Tensor probe_loss(const torch::Tensor& output, const torch::Tensor& weights) {
  return (torch::tanh(output) * weights).reshape({output.size(0), -1}).sum(1);
}

inline torch::Tensor flat(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> parts;
  for (const auto& t : tensors) parts.push_back(t.reshape(-1));
  return torch::cat(parts);
}

// The oracle: gradient of example i alone, by ordinary backward on a batch of one.
inline std::vector<torch::Tensor> loop_gradients(torch::nn::Sequential& model,
                                                 const torch::Tensor& input,
                                                 const torch::Tensor& aux, const LossFn& loss) {
  std::vector<torch::Tensor> grads;
  const auto parameters = model->parameters();
  for (int64_t i = 0; i < input.size(0); ++i) {
    const auto out = model->forward(input.slice(0, i, i + 1));
    const auto total = loss(out, aux.slice(0, i, i + 1)).sum();
    grads.push_back(flat(torch::autograd::grad({total}, parameters)));
  }
  return grads;
}

struct EngineRun {
  GradTape tape;
  std::vector<torch::Tensor> output_grads;
};

inline void run_engine(torch::nn::Sequential& model, const torch::Tensor& input,
                       const torch::Tensor& aux, const LossFn& loss, EngineRun& run) {
  torch::Tensor out;
  {
    TapeGuard guard(run.tape);
    out = model->forward(input);
  }
  run.output_grads = run.tape.output_gradients(loss(out, aux).sum());
}

// Flattens per-record clipped sums into the model's parameter order.
inline torch::Tensor flat_sums(torch::nn::Sequential& model, const GradTape& tape,
                               const ClippedBatch& batch) {
  std::vector<torch::Tensor> ordered;
  for (const auto& parameter : model->parameters()) {
    torch::Tensor found;
    for (size_t l = 0; l < tape.records().size(); ++l) {
      const auto& r = tape.records()[l];
      if (r.weight.is_same(parameter)) found = batch.sums[l][0];
      if (r.bias.defined() && r.bias.is_same(parameter)) found = batch.sums[l][1];
    }
    EXPECT_TRUE(found.defined());
    ordered.push_back(found);
  }
  return flat(ordered);
}

inline void expect_close(const torch::Tensor& actual, const torch::Tensor& expected,
                         const std::string& what) {
  const double scale = expected.abs().max().item<double>() + 1e-12;
  const double error = (actual - expected).abs().max().item<double>();
  EXPECT_LE(error, kRelTol * scale) << what << ": max error " << error << " at scale " << scale;
}

// Checks norms, flat/per-layer/automatic clipped sums and the clipping bound against the oracle.
inline void check_against_loop(torch::nn::Sequential model, const torch::Tensor& input,
                               const torch::Tensor& aux, const LossFn& loss = probe_loss) {
  model->to(torch::kFloat64);
  model->train();
  const auto oracle = loop_gradients(model, input, aux, loss);
  std::vector<torch::Tensor> oracle_norms;
  for (const auto& g : oracle) oracle_norms.push_back(g.norm());
  const auto expected_norms = torch::stack(oracle_norms);

  EngineRun run;
  run_engine(model, input, aux, loss, run);
  const double median = expected_norms.median().item<double>();
  const auto clip = ClipOptions().max_grad_norm(median);
  const double bound = median / (1 + kFloat32NormMargin);  // what the engine clips to
  const auto clipped = clip_and_sum(run.tape.records(), run.output_grads, clip);
  expect_close(clipped.norms, expected_norms, "per-example norms");

  // Flat clipping: Σ cᵢ gᵢ with cᵢ = min(1, C'/(‖gᵢ‖ + 1e-6)), C' = C/(1 + κ); examples under
  // C' pass unchanged.
  auto expected_sum = torch::zeros_like(oracle[0]);
  for (size_t i = 0; i < oracle.size(); ++i) {
    const double c = std::min(1.0, bound / (oracle_norms[i].item<double>() + 1e-6));
    EXPECT_LE(c * oracle_norms[i].item<double>(), median * (1 + 1e-6));
    if (oracle_norms[i].item<double>() < bound) {
      EXPECT_EQ(c, 1.0);
    }
    expected_sum += c * oracle[i];
  }
  expect_close(flat_sums(model, run.tape, clipped), expected_sum, "flat clipped sum");

  // The training path (per_sample_layers: each G reduced as it arrives, inputs released) agrees.
  GradTape streamed;
  torch::Tensor out;
  {
    TapeGuard guard(streamed);
    out = model->forward(input);
  }
  auto layers = per_sample_layers(streamed, loss(out, aux).sum());
  const auto streamed_flat = clip_and_sum(std::move(layers), clip);
  expect_close(streamed_flat.norms, expected_norms, "per-example norms, training path");
  expect_close(flat_sums(model, streamed, streamed_flat), expected_sum,
               "flat clipped sum, training path");

  // Automatic clipping: cᵢ = C / (‖gᵢ‖ + γ).
  const auto automatic =
      clip_and_sum(run.tape.records(), run.output_grads,
                   ClipOptions().max_grad_norm(median).mode(ClipMode::kAutomatic));
  expected_sum.zero_();
  for (size_t i = 0; i < oracle.size(); ++i) {
    expected_sum += bound / (oracle_norms[i].item<double>() + 0.01) * oracle[i];
  }
  expect_close(flat_sums(model, run.tape, automatic), expected_sum, "automatic clipped sum");

  // Per-layer clipping: each layer's slice of gᵢ clipped to C/√L on its own.
  const auto per_layer =
      clip_and_sum(run.tape.records(), run.output_grads,
                   ClipOptions().max_grad_norm(median).mode(ClipMode::kPerLayer));
  const double layer_bound = bound / std::sqrt(static_cast<double>(run.tape.records().size()));
  std::vector<torch::Tensor> expected_parts;
  int64_t offset = 0;
  for (const auto& record : run.tape.records()) {
    const int64_t size = record.weight.numel() + (record.bias.defined() ? record.bias.numel() : 0);
    auto part = torch::zeros({size}, torch::kFloat64);
    for (const auto& g : oracle) {
      const auto slice = g.slice(0, offset, offset + size);
      part += std::min(1.0, layer_bound / (slice.norm().item<double>() + 1e-6)) * slice;
    }
    expected_parts.push_back(part);
    offset += size;
  }
  std::vector<torch::Tensor> actual_parts;
  for (const auto& sums : per_layer.sums) actual_parts.push_back(flat(sums));
  expect_close(torch::cat(actual_parts), torch::cat(expected_parts), "per-layer clipped sum");
}

inline torch::Tensor aux_for(torch::nn::Sequential& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  model->to(torch::kFloat64);
  return torch::randn_like(model->forward(input));
}

}  // namespace dpforge::dp
