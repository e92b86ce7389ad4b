// SPDX-License-Identifier: Apache-2.0
// Per-example gradient norms and clipped sums of one DP layer from its tape record (A) and its
// output gradient G = ∂(Σᵢ Lᵢ)/∂S, without materializing per-example gradients where it can.
// Formulas (sources in docs/design.md), for a layer with per-example gradient ∇Wᵢ = Gᵢᵀ Aᵢ
// (Aᵢ: T x d, Gᵢ: T x p; T = 1 for plain Linear, T = H_out·W_out for unfolded Conv2d):
//   T = 1:          ‖∇Wᵢ‖² = ‖aᵢ‖²‖gᵢ‖²
//   ghost:          ‖∇Wᵢ‖² = ⟨AᵢAᵢᵀ, GᵢGᵢᵀ⟩_F             (cost ∝ T²(p+d))
//   materialized:   ‖∇Wᵢ‖² = ‖Gᵢᵀ Aᵢ‖²_F                   (cost ∝ T·p·d, memory B·p·d)
//   mixed rule:     decided per layer. Linear: ghost iff T·(p+d) ≤ p·d (less time and less
//                   kept memory: A and G against ∇Wᵢ). Conv2d (Bu et al.'s 2T² ≤ p·d with the
//                   im2col rows the ghost norm needs): ghost iff 2T² + T·d ≤ p·d.
//   clipped sum:    Σᵢ cᵢ ∇Wᵢ = (c ⊙ G)ᵀ A, one GEMM over all B·T rows (book-keeping); for
//                   Conv2d the convolution's weight-gradient kernel on c ⊙ G, so its im2col rows
//                   are needed only while the norms are computed; materialized layers: Σᵢ cᵢ∇Wᵢ.
// Bias: ∇bᵢ = Σ_t g_it. Norm layers: ∇γᵢ = Σ x̂ᵢ ⊙ gᵢ, ∇βᵢ = Σ gᵢ (cheap, materialized; x̂ is
// recomputed from the layer's input).
// Embedding: ‖∇Eᵢ‖² = Σ_{t,s} 1[x_it = x_is ≠ pad] g_it·g_is.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "dpforge/dp/tape.h"

namespace dpforge::dp {

/// How a DP layer's per-example gradient norms are computed (the formulas above).
enum class NormMethod {
  kDirect,        // T = 1: ‖aᵢ‖²‖gᵢ‖², nothing per example made
  kGhost,         // T > 1, the mixed rule chose the Gram matrices
  kMaterialized,  // ∇Wᵢ made for the batch (batched GEMM or chunked im2col)
  kByExample,     // wide Conv2d: ∇Wᵢ from its own weight-gradient kernel, one example at a time
  kNormStatistics,  // GroupNorm/LayerNorm: ∇γᵢ and ∇βᵢ, B x C
  kEmbedding,       // the rows each example looked up, repeats summed
};
/// "T = 1", "ghost", "materialized", "by example", "per-example statistics", "embedding rows".
std::string_view to_string(NormMethod method);

/// The mixed rule for a Linear layer d → p applied at `tokens` positions per example.
NormMethod linear_norm_method(int64_t tokens, int64_t in_features, int64_t out_features);
/// The mixed rule for a k x k Conv2d c → p channels with `positions` = H_out·W_out outputs.
NormMethod conv_norm_method(int64_t positions, int64_t in_channels, int64_t out_channels,
                            int64_t kernel);

class PerSampleLayer {
 public:
  /// Reduces (A, G) to what norms and clipped sums need: per-example gradients of materialized
  /// and norm layers, else A and G themselves (ghost and T = 1 layers, Embedding).
  PerSampleLayer(const LayerRecord& record, const torch::Tensor& output_grad);

  /// ‖∇θᵢ‖² over all of this layer's parameters, one entry per example (B).
  torch::Tensor squared_norms() const;
  /// Σᵢ cᵢ ∇θᵢ for each of parameters(); `clip_factors` has one entry per example.
  std::vector<torch::Tensor> clipped_sums(const torch::Tensor& clip_factors) const;
  /// The layer's trainable tensors, in the order clipped_sums returns them.
  std::vector<torch::Tensor> parameters() const;
  /// Zeroes what is kept of the examples where `keep` is false, so that a NaN/Inf example
  /// contributes exactly nothing (NaN·0 would still be NaN).
  void drop_examples(const torch::Tensor& keep);
  /// Whether the mixed rule chose the ghost norm (Linear/Conv2d with T > 1 only).
  bool uses_ghost_norm() const { return method_ == NormMethod::kGhost; }
  /// How this layer's norms were computed (what nn's layer registry predicts from its shape).
  NormMethod method() const { return method_; }
  int64_t batch_size() const { return batch_; }

 private:
  // What each kind keeps of (A, G): see the formulas at the top of this file.
  void prepare_linear(const torch::Tensor& output_grad);
  void prepare_conv(const torch::Tensor& output_grad);
  // ∇Wᵢ one example at a time with the convolution's weight-gradient kernel (large layers): kept,
  // or reduced to ‖∇Wᵢ‖² with A and G kept for the clipped sum.
  void conv_by_example(const torch::Tensor& output_grad, bool keep_gradients);

  const LayerRecord&
      record_;  // weight, bias, geometry (its input may be released after construction)
  int64_t batch_ = 0;
  int64_t tokens_ = 1;  // Linear: T; Conv2d: H_out·W_out
  torch::Tensor
      activations_;  // kept A: B x T x d (Linear), the input (Conv2d), indices (Embedding)
  torch::Tensor output_grad_;  // kept G: B x T x p (Linear), B x p x H x W (Conv2d), as recorded
  torch::Tensor per_example_;  // B x p x d when materialized (Conv2d: the weight's layout); ∇γᵢ
  torch::Tensor per_example_bias_;  // ∇bᵢ (B x p) or ∇βᵢ
  torch::Tensor conv_weight_norms_;  // Conv2d ghost (or T = 1): ‖∇Wᵢ‖², computed on construction
  NormMethod method_ = NormMethod::kDirect;
};

/// The DP backward of a tape: one backward of `loss` in which each layer's G is reduced to a
/// PerSampleLayer the moment it arrives, and the tape's inputs are released once consumed; so G
/// outlives its backward step only where the clipped sum needs it.
std::vector<PerSampleLayer> per_sample_layers(GradTape& tape, const torch::Tensor& loss);

}  // namespace dpforge::dp
