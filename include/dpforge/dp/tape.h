// SPDX-License-Identifier: Apache-2.0
// The tape a DP forward pass writes: for every DP layer, the activation A it consumed and where
// its output S enters the autograd graph. One backward of Σᵢ Lᵢ gives G = ∂(Σᵢ Lᵢ)/∂S per layer;
// (A, G) is all the engine needs for per-example norms and clipped sums (Bu et al.'s
// book-keeping), so parameter gradients are never formed by autograd and no second backward runs.
//
// In a DP forward the layers use their parameters detached, and route S through a tap: an
// identity node of the graph whose backward hands G to the tape the moment the backward reaches
// the layer. A consumer can then reduce G to what the layer needs later (per-example gradients of
// a norm layer, a materialized layer's B x p x d) and let autograd free G as in ordinary training:
// book-keeping need not hold every layer's G until the backward ends.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <unordered_set>
#include <vector>

namespace dpforge::dp {

enum class LayerKind { kLinear, kConv2d, kGroupNorm, kLayerNorm, kEmbedding };

struct LayerRecord {
  LayerKind kind;
  /// Linear/Conv2d/GroupNorm/LayerNorm: the layer's input (for the norm layers x̂ is recomputed
  /// from it: autograd keeps the input anyway, x̂ would be one more activation). Embedding: the
  /// indices. Detached.
  torch::Tensor input;
  torch::Tensor weight;
  torch::Tensor bias{};  // undefined when the layer has none
  // Conv2d geometry.
  int64_t stride = 1, padding = 0, dilation = 1;
  // GroupNorm groups; Embedding padding index (-1: none).
  int64_t groups = 1;
  int64_t padding_idx = -1;
  // GroupNorm/LayerNorm ε.
  double eps = 1e-5;
  /// S's shape, set by GradTape::record (a layer the loss does not reach gets zeros of it).
  std::vector<int64_t> output_sizes{};
};

class GradTape {
 public:
  GradTape() = default;
  // The graph a DP forward builds holds this tape's address (see OutputTap): it must not move.
  GradTape(const GradTape&) = delete;
  GradTape& operator=(const GradTape&) = delete;

  /// Records a DP layer and returns its output S routed through this tape's tap (use the result
  /// in place of S). The layer must have computed S from detached parameters.
  torch::Tensor record(LayerRecord record, const torch::Tensor& output);
  const std::vector<LayerRecord>& records() const { return records_; }
  void clear() {
    records_.clear();
    recorded_weights_.clear();
  }

  /// Called with (record index, G) once per record, in backward order; a layer the loss does not
  /// reach gets zeros after the backward.
  using GradientConsumer = std::function<void(size_t, const torch::Tensor&)>;
  /// One backward of the scalar `loss`, stopping at the layer outputs (no parameter gradient is
  /// formed); frees the graph. With `release_inputs`, each record's input is dropped once its
  /// G has been consumed: what the consumer kept of it is then all that is left.
  void backward(const torch::Tensor& loss, const GradientConsumer& consume,
                bool release_inputs = false);
  /// G for every record (all held at once: for tests and benchmarks that reuse them).
  std::vector<torch::Tensor> output_gradients(const torch::Tensor& loss);

 private:
  friend struct OutputTap;
  void take(size_t index, const torch::Tensor& output_grad);

  std::vector<LayerRecord> records_;
  std::unordered_set<const void*> recorded_weights_;  // one record per weight and forward
  // A scalar leaf every tap depends on: the backward is asked for its gradient only, which makes
  // every tap (and nothing below the first one) part of the backward.
  torch::Tensor anchor_;
  const GradientConsumer* consumer_ = nullptr;
  std::vector<bool> consumed_;
  bool release_inputs_ = false;
};

/// G of a layer the loss does not reach: zeros of its output's shape.
torch::Tensor zero_output_gradient(const LayerRecord& record);

/// The tape DP layers write to on this thread, or nullptr outside a DP forward.
GradTape* active_tape();

/// Makes `tape` active for its lifetime.
class TapeGuard {
 public:
  explicit TapeGuard(GradTape& tape);
  ~TapeGuard();
  TapeGuard(const TapeGuard&) = delete;
  TapeGuard& operator=(const TapeGuard&) = delete;

 private:
  GradTape* previous_;
};

}  // namespace dpforge::dp
