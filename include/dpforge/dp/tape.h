// SPDX-License-Identifier: Apache-2.0
// The tape a DP forward pass writes: for every DP layer, the activation A it consumed and the
// output S it produced. One backward of Σᵢ Lᵢ with respect to the outputs gives G = ∂(Σᵢ Lᵢ)/∂S
// per layer; (A, G) is all the engine needs for per-example norms and clipped sums (Bu et al.'s
// book-keeping), so parameter gradients are never formed by autograd and no second backward runs.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace dpforge::dp {

enum class LayerKind { kLinear, kConv2d, kGroupNorm, kLayerNorm, kEmbedding };

struct LayerRecord {
  LayerKind kind;
  /// Linear/Conv2d: the input A. GroupNorm/LayerNorm: the normalized input x̂. Embedding: the
  /// indices. Detached.
  torch::Tensor input;
  /// The layer's output S, still in the autograd graph.
  torch::Tensor output;
  torch::Tensor weight;
  torch::Tensor bias;  // undefined when the layer has none
  // Conv2d geometry.
  int64_t stride = 1, padding = 0, dilation = 1;
  // GroupNorm groups; Embedding padding index (-1: none).
  int64_t groups = 1;
  int64_t padding_idx = -1;
};

class GradTape {
 public:
  void record(LayerRecord record) { records_.push_back(std::move(record)); }
  const std::vector<LayerRecord>& records() const { return records_; }
  std::vector<torch::Tensor> outputs() const;
  void clear() { records_.clear(); }

 private:
  std::vector<LayerRecord> records_;
};

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
