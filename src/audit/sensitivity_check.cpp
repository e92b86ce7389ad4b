// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/sensitivity_check.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "dpforge/core/random.h"
#include "dpforge/nn/models.h"

namespace dpforge::audit {
namespace {

// The model's trainable parameters grouped by the module that owns them (a parameter's name less
// its last component): the layers of per-layer clipping, found without the tape.
struct TrainableLayers {
  std::vector<torch::Tensor> parameters;
  std::vector<size_t> layer_of;  // parameters[k] belongs to names[layer_of[k]]
  std::vector<std::string> names;
};

TrainableLayers trainable_layers(const torch::nn::Module& model) {
  TrainableLayers layers;
  std::map<std::string, size_t> index;
  for (const auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const auto dot = item.key().rfind('.');
    const std::string layer = dot == std::string::npos ? "" : item.key().substr(0, dot);
    const auto [it, added] = index.emplace(layer, layers.names.size());
    if (added) layers.names.push_back(layer);
    layers.parameters.push_back(item.value());
    layers.layer_of.push_back(it->second);
  }
  return layers;
}

// S(examples): the pre-noise clipped sum the mechanism makes of them, per parameter, in float64.
std::vector<torch::Tensor> mechanism_sum(dp::DpSgdTarget& target, const dp::ClipOptions& clip,
                                         const TrainableLayers& layers,
                                         std::span<const int64_t> examples) {
  dp::ClippedSum sum(layers.parameters);
  dp::clip_examples(target, clip, examples, sum);
  std::vector<torch::Tensor> sums;
  for (const auto& parameter : layers.parameters) sums.push_back(sum.of(parameter).to(torch::kF64));
  return sums;
}

// ∇θ ℓ(f(xᵢ), yᵢ) by plain autograd on one example: no tape is active here, so the DP layers run
// as ordinary LibTorch layers.
std::vector<torch::Tensor> autograd_gradient(dp::DpSgdTarget& target, const TrainableLayers& layers,
                                             int64_t example) {
  const auto& data = target.train_set;
  torch::AutoGradMode enabled(true);
  const auto outputs = target.model->forward(data.inputs.narrow(0, example, 1));
  const auto loss = target.loss(outputs, data.labels.narrow(0, example, 1)).sum();
  auto gradients = torch::autograd::grad({loss}, layers.parameters, {}, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true);
  for (size_t k = 0; k < gradients.size(); ++k) {
    gradients[k] = gradients[k].defined() ? gradients[k].detach().to(torch::kF64)
                                          : torch::zeros_like(layers.parameters[k], torch::kF64);
  }
  return gradients;
}

std::vector<double> layer_norms(const std::vector<torch::Tensor>& tensors,
                                const TrainableLayers& layers) {
  std::vector<double> squared(layers.names.size(), 0.0);
  for (size_t k = 0; k < tensors.size(); ++k)
    squared[layers.layer_of[k]] += tensors[k].square().sum().item<double>();
  for (auto& value : squared) value = std::sqrt(value);
  return squared;
}

double total_norm(const std::vector<double>& per_layer) {
  double squared = 0;
  for (const double norm : per_layer) squared += norm * norm;
  return std::sqrt(squared);
}

// The plan's clip rule (dp/clipping.h) applied to one whole gradient, written from its definition:
//   flat cᵢ = min(1, C'/(‖g‖ + ε)), automatic cᵢ = C'/(‖g‖ + γ), per layer cᵢ,ₗ = min(1, C'/√L /
//   (‖gₗ‖ + ε)), with C' = C/(1 + κ) (kFloat32NormMargin); a non-finite gradient contributes 0.
std::vector<torch::Tensor> clip_reference(std::vector<torch::Tensor> gradient,
                                          const TrainableLayers& layers,
                                          const dp::ClipOptions& clip) {
  const auto norms = layer_norms(gradient, layers);
  const double norm = total_norm(norms);
  const double bound = clip.max_grad_norm() / (1 + dp::kFloat32NormMargin);
  const double layer_bound = bound / std::sqrt(static_cast<double>(layers.names.size()));
  for (size_t k = 0; k < gradient.size(); ++k) {
    double factor = 0;
    if (std::isfinite(norm)) {
      switch (clip.mode()) {
        case dp::ClipMode::kFlat:
          factor = std::min(1.0, bound / (norm + dp::kClipNormEpsilon));
          break;
        case dp::ClipMode::kAutomatic:
          factor = bound / (norm + clip.automatic_gamma());
          break;
        case dp::ClipMode::kPerLayer:
          factor = std::min(1.0, layer_bound / (norms[layers.layer_of[k]] + dp::kClipNormEpsilon));
          break;
      }
    }
    gradient[k] = factor == 0 ? torch::zeros_like(gradient[k]) : gradient[k] * factor;
  }
  return gradient;
}

// Δᵢ against rᵢ, layer by layer.
SensitivityFinding compare(const std::vector<torch::Tensor>& contribution,
                           const std::vector<torch::Tensor>& reference,
                           const TrainableLayers& layers, const dp::ClipOptions& clip) {
  std::vector<torch::Tensor> difference;
  for (size_t k = 0; k < contribution.size(); ++k)
    difference.push_back(contribution[k] - reference[k]);
  const auto contributed = layer_norms(contribution, layers);
  const auto referenced = layer_norms(reference, layers);
  const auto mismatched = layer_norms(difference, layers);
  const double bound = clip.max_grad_norm();
  SensitivityFinding finding;
  finding.mismatch_over_bound = total_norm(mismatched) / bound;
  finding.contribution_over_bound = total_norm(contributed) / bound;
  if (clip.mode() == dp::ClipMode::kPerLayer) {
    const double layer_bound = bound / std::sqrt(static_cast<double>(layers.names.size()));
    finding.contribution_over_bound =
        *std::max_element(contributed.begin(), contributed.end()) / layer_bound;
  }
  double worst = -1;
  double lowest_ratio = INFINITY, highest_ratio = 0;
  for (size_t l = 0; l < layers.names.size(); ++l) {
    finding.layers.push_back({layers.names[l], contributed[l], referenced[l], mismatched[l]});
    const double departure = mismatched[l] / std::max({contributed[l], referenced[l], 1e-30});
    if (!(departure <= worst)) {
      worst = departure;
      finding.worst_layer = l;
    }
    if (referenced[l] > 0) {
      lowest_ratio = std::min(lowest_ratio, contributed[l] / referenced[l]);
      highest_ratio = std::max(highest_ratio, contributed[l] / referenced[l]);
    }
  }
  finding.scaled_alike = highest_ratio > 0 && highest_ratio <= lowest_ratio * (1 + 1e-3);
  return finding;
}

// report.json writes NaN as null.
double number_or_nan(const nlohmann::json& value) {
  return value.is_number() ? value.get<double>() : std::nan("");
}

bool flagged(const SensitivityFinding& finding) {
  // Written so that a NaN compares as a flag.
  return !(finding.contribution_over_bound <= 1 + kSensitivityBoundTolerance) ||
         !(finding.mismatch_over_bound <= kSensitivityMismatchTolerance);
}

// min(count, |real|) distinct examples of `real`, drawn from `uniform`, ascending.
std::vector<int64_t> draw_sub_batch(std::span<const int64_t> real, int64_t count,
                                    PhiloxUniform& uniform) {
  std::vector<int64_t> pool(real.begin(), real.end());
  const auto size = static_cast<int64_t>(pool.size());
  count = std::min(count, size);
  for (int64_t k = 0; k < count; ++k) {  // a partial Fisher–Yates shuffle
    const auto pick = k + std::min(size - k - 1, static_cast<int64_t>(uniform.next() * (size - k)));
    std::swap(pool[k], pool[pick]);
  }
  pool.resize(count);
  std::sort(pool.begin(), pool.end());
  return pool;
}

}  // namespace

nlohmann::json SensitivityFinding::to_json() const {
  auto table = nlohmann::json::array();
  for (const auto& layer : layers) {
    table.push_back({{"layer", layer.layer},
                     {"mechanism", layer.mechanism},
                     {"reference", layer.reference},
                     {"mismatch", layer.mismatch}});
  }
  return {{"step", step},
          {"example", example},
          {"contribution_over_bound", contribution_over_bound},
          {"mismatch_over_bound", mismatch_over_bound},
          {"worst_layer", layers.empty() ? "" : layers[worst_layer].layer},
          {"scaled_alike", scaled_alike},
          {"layers", std::move(table)}};
}

SensitivityFinding SensitivityFinding::from_json(const nlohmann::json& json) {
  SensitivityFinding finding;
  finding.step = json.at("step").get<int64_t>();
  finding.example = json.at("example").get<int64_t>();
  finding.contribution_over_bound = number_or_nan(json.at("contribution_over_bound"));
  finding.mismatch_over_bound = number_or_nan(json.at("mismatch_over_bound"));
  finding.scaled_alike = json.at("scaled_alike").get<bool>();
  for (const auto& layer : json.at("layers")) {
    if (layer.at("layer") == json.at("worst_layer")) finding.worst_layer = finding.layers.size();
    finding.layers.push_back(
        {layer.at("layer").get<std::string>(), number_or_nan(layer.at("mechanism")),
         number_or_nan(layer.at("reference")), number_or_nan(layer.at("mismatch"))});
  }
  return finding;
}

SensitivityCheck::SensitivityCheck(uint64_t seed, double step_rate)
    : seed_(seed), step_rate_(step_rate) {}

void SensitivityCheck::after_clipping(const dp::DpPlan& plan, dp::DpSgdTarget& target,
                                      std::span<const int64_t> real) {
  if (real.empty()) return;
  PhiloxUniform coin(derive_seed(seed_, static_cast<uint64_t>(step_)));
  if (checked_steps_ > 0 && coin.next() > step_rate_) return;
  check(plan, target, real);
}

void SensitivityCheck::check(const dp::DpPlan& plan, dp::DpSgdTarget& target,
                             std::span<const int64_t> real) {
  const nn::DropoutOff deterministic(*target.model);
  PhiloxUniform uniform(derive_seed(seed_, static_cast<uint64_t>(step_)), /*block=*/1);
  const auto batch = draw_sub_batch(real, kSubBatch, uniform);
  const auto layers = trainable_layers(*target.model);
  const auto whole = mechanism_sum(target, plan.clip, layers, batch);
  // The examples compared are the first of a random order: the sub-batch's is ascending.
  auto compared = draw_sub_batch(batch, kExamplesPerCheck, uniform);
  for (const int64_t example : compared) {
    std::vector<int64_t> others;
    std::copy_if(batch.begin(), batch.end(), std::back_inserter(others),
                 [&](int64_t other) { return other != example; });
    auto contribution = mechanism_sum(target, plan.clip, layers, others);
    for (size_t k = 0; k < contribution.size(); ++k) contribution[k] = whole[k] - contribution[k];
    const auto reference =
        clip_reference(autograd_gradient(target, layers, example), layers, plan.clip);
    auto finding = compare(contribution, reference, layers, plan.clip);
    finding.step = step_;
    finding.example = example;
    record(finding, flagged(finding));
  }
  ++checked_steps_;
}

void SensitivityCheck::record(const SensitivityFinding& finding, bool flagged) {
  ++checked_examples_;
  if (flagged && !violation_) violation_ = finding;
  if (!worst_ || !(finding.mismatch_over_bound <= worst_->mismatch_over_bound)) worst_ = finding;
  if (!(finding.contribution_over_bound <= max_contribution_over_bound_))
    max_contribution_over_bound_ = finding.contribution_over_bound;
}

nlohmann::json SensitivityCheck::to_json() const {
  nlohmann::json json{{"status", flags() ? "violation" : "pass"},
                      {"steps_taken", step_},
                      {"checked_steps", checked_steps_},
                      {"checked_examples", checked_examples_},
                      {"max_contribution_over_bound", max_contribution_over_bound_},
                      {"step_rate", step_rate_},
                      {"sub_batch", kSubBatch},
                      {"examples_per_check", kExamplesPerCheck},
                      {"bound_tolerance", kSensitivityBoundTolerance},
                      {"mismatch_tolerance", kSensitivityMismatchTolerance}};
  if (worst_) json["worst"] = worst_->to_json();
  if (violation_) json["violation"] = violation_->to_json();
  return json;
}

void SensitivityCheck::restore(const nlohmann::json& saved) {
  step_ = saved.at("steps_taken").get<int64_t>();
  checked_steps_ = saved.at("checked_steps").get<int64_t>();
  checked_examples_ = saved.at("checked_examples").get<int64_t>();
  max_contribution_over_bound_ = number_or_nan(saved.at("max_contribution_over_bound"));
  worst_.reset();
  violation_.reset();
  if (saved.contains("worst")) worst_ = SensitivityFinding::from_json(saved.at("worst"));
  if (saved.contains("violation"))
    violation_ = SensitivityFinding::from_json(saved.at("violation"));
}

}  // namespace dpforge::audit
