// SPDX-License-Identifier: Apache-2.0
// Per-example clipping: norms → clip factors → the clipped sum of one physical batch.
// Invariant 5 (docs/design.md): every example's clipped gradient has norm ≤ C (per layer ≤ C_l with
// Σ C_l² = C²), so the sum's sensitivity to adding or removing one example is C.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/core/enum_names.h"
#include "dpforge/core/options.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/dp/tape.h"

namespace dpforge::dp {

enum class ClipMode {
  /// cᵢ = min(1, C / (‖gᵢ‖ + 1e-6)) on the whole gradient (Abadi et al. 2016).
  kFlat,
  /// Each of the L layers clipped to C_l = C/√L on its own (equal split, Σ C_l² = C²).
  kPerLayer,
  /// cᵢ = C / (‖gᵢ‖ + γ), γ = 0.01 (Bu et al. 2023, AUTO-S): every example normalized.
  kAutomatic,
};
inline constexpr EnumNames<ClipMode, 3> kClipModeNames{{{{ClipMode::kFlat, "flat"},
                                                         {ClipMode::kPerLayer, "per_layer"},
                                                         {ClipMode::kAutomatic, "automatic"}}}};
inline std::string to_string(ClipMode mode) { return std::string(kClipModeNames.name(mode)); }

/// The norms are computed by one float32 kernel (ghost or materialized) and the clipped sum by
/// another (a GEMM on c ⊙ G): the two can disagree about ‖gᵢ‖ by float32 rounding. Clipping to
/// C/(1 + κ) instead of C keeps every realized contribution ‖cᵢgᵢ‖ ≤ C while that disagreement is
/// below κ; tests/dp/clipping_test.cpp measures it in float32 across the layer kinds and their
/// norm methods.
inline constexpr double kFloat32NormMargin = 1e-5;

/// Abadi et al.'s stabilizer in the flat and per-layer factors, min(1, C / (‖gᵢ‖ + ε)): keeps cᵢ
/// finite for a zero gradient; cᵢ·‖gᵢ‖ < C still holds.
inline constexpr double kClipNormEpsilon = 1e-6;

struct ClipOptions {
  DPF_ARG(double, max_grad_norm) = 1.0;
  DPF_ARG(ClipMode, mode) = ClipMode::kFlat;
  DPF_ARG(double, automatic_gamma) = 0.01;
};

struct ClippedBatch {
  /// For each tape record, Σᵢ cᵢ ∇θᵢ of its parameters (weight, then bias if any).
  std::vector<std::vector<torch::Tensor>> sums;
  /// Per-example gradient norms before clipping (B); NaN/Inf where an example was dropped.
  torch::Tensor norms;
  /// Examples whose norm was NaN or Inf: their contribution is zeroed, not clipped.
  int64_t dropped = 0;
};

/// Clips and sums one physical batch from its tape and the output gradients (one per record,
/// undefined where the loss does not depend on that layer).
ClippedBatch clip_and_sum(const std::vector<LayerRecord>& records,
                          const std::vector<torch::Tensor>& output_grads,
                          const ClipOptions& options);
/// Clips and sums one physical batch from its layers (per_sample_layers), consuming them: each
/// layer's kept tensors are freed once its sums are made. NaN/Inf examples are dropped.
ClippedBatch clip_and_sum(std::vector<PerSampleLayer> layers, const ClipOptions& options);

}  // namespace dpforge::dp
