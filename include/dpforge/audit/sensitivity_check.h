// SPDX-License-Identifier: Apache-2.0
// The sensitivity check, run in every private run (a dp::StepHook): at the first step with real
// examples and at a seeded sample of the later ones, it measures what the mechanism added for a
// few of the step's examples and compares it with an independent computation of the same thing.
//   mechanism:  Δᵢ = S(b) − S(b ∖ {i}), S the pre-noise clipped sum dp::clip_examples makes of a
//               sub-batch b of the step's examples — the step's own forward, DP backward, norms,
//               clip factors and sums, on the step's parameters —, so Δᵢ is what example i moved
//               the sum by, whatever the code between its gradient and the sum does;
//   reference:  rᵢ = clip(∇θ ℓ(f(xᵢ), yᵢ)), example i's gradient alone by LibTorch's autograd on
//               the whole model (no tape, no per-example machinery), clipped by the plan's rule.
// DP-SGD's guarantee needs ‖Δᵢ‖ ≤ C (invariant 5, docs/design.md); Δᵢ = rᵢ says the per-example
// machinery computed the gradient the user's model has. The check flags
//   ‖Δᵢ‖ > C·(1 + kBoundTolerance)   (per-layer clipping: ‖Δᵢ,ₗ‖ > C/√L·(1 + kBoundTolerance)), or
//   ‖Δᵢ − rᵢ‖ > kMismatchTolerance·C,
// naming the step, the example, the layer and the ratio. Dropout is off while it measures (both
// sides must see the same forward); the step's own sum, randomness and result are untouched.
//
// Example:
//   audit::SensitivityCheck check(derive_seed(audit_seed, purpose), /*step_rate=*/0.01);
//   std::vector<dp::StepHook*> hooks{&accounting, &check};
//   ... dp::dp_sgd_step(plan, state, target, hooks) ...
//   if (check.flags()) report(check.to_json());
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dpforge/dp/dp_sgd.h"

namespace dpforge::audit {

/// Float32 slack on the bound: Δᵢ is a difference of two float32 sums of up to kSubBatch clipped
/// gradients, so its norm carries their rounding (~1e-6 relative, docs/auditing.md).
inline constexpr double kSensitivityBoundTolerance = 1e-3;
/// Largest ‖Δᵢ − rᵢ‖ / C of a correct run: two float32 computations of one gradient by different
/// kernels (measured in docs/auditing.md, far below any bug that changes a gradient).
inline constexpr double kSensitivityMismatchTolerance = 1e-2;

/// One layer of one example's comparison: ‖Δᵢ,ₗ‖, ‖rᵢ,ₗ‖ and ‖Δᵢ,ₗ − rᵢ,ₗ‖.
struct LayerComparison {
  std::string layer;  // the module that owns the parameters ("" for the model itself)
  double mechanism = 0;
  double reference = 0;
  double mismatch = 0;
};

/// One example's comparison: the worst seen so far, or the first that flagged the run.
struct SensitivityFinding {
  int64_t step = 0;
  int64_t example = 0;  // index into the training set
  double contribution_over_bound =
      0;  // ‖Δᵢ‖ / C (per-layer clipping: max over layers of ‖Δᵢ,ₗ‖/Cₗ)
  double mismatch_over_bound = 0;  // ‖Δᵢ − rᵢ‖ / C
  std::vector<LayerComparison> layers;
  /// The layer whose contribution departs most from its reference, relative to the larger of
  /// the two (index into layers).
  size_t worst_layer = 0;
  /// Whether every layer's ‖Δᵢ,ₗ‖/‖rᵢ,ₗ‖ is the same (within 1e-3): then the per-layer gradients
  /// are right and the example's clip factor (its norm) is what is wrong.
  bool scaled_alike = false;
  nlohmann::json to_json() const;
  static SensitivityFinding from_json(const nlohmann::json& json);
};

/// audit.sensitivity_rate's default: about 1% of a run's time (docs/performance.md).
inline constexpr double kDefaultSensitivityRate = 0.01;

class SensitivityCheck final : public dp::StepHook {
 public:
  /// Steps after the first checked one are checked with probability `step_rate` each (drawn from
  /// `seed` and the step's index, so a resumed run checks the same steps).
  /// (`step_rate`: audit.sensitivity_rate.)
  SensitivityCheck(uint64_t seed, double step_rate);

  void after_clipping(const dp::DpPlan& plan, dp::DpSgdTarget& target,
                      std::span<const int64_t> real) override;
  void after_step() override { ++step_; }

  bool flags() const { return violation_.has_value(); }
  /// report.json's diagnostics.sensitivity_check; also what a checkpoint keeps (restore()).
  nlohmann::json to_json() const;
  void restore(const nlohmann::json& saved);

  /// Sub-batch b and examples compared per checked step (docs/performance.md: the cost).
  static constexpr int64_t kSubBatch = 8;
  static constexpr int64_t kExamplesPerCheck = 4;

 private:
  void check(const dp::DpPlan& plan, dp::DpSgdTarget& target, std::span<const int64_t> real);
  void record(const SensitivityFinding& finding, bool flagged);

  uint64_t seed_;
  double step_rate_;
  int64_t step_ = 0;  // steps taken so far (after_step)
  int64_t checked_steps_ = 0;
  int64_t checked_examples_ = 0;
  double max_contribution_over_bound_ = 0;       // NaN once any was
  std::optional<SensitivityFinding> worst_;      // largest mismatch seen
  std::optional<SensitivityFinding> violation_;  // the first that flagged
};

}  // namespace dpforge::audit
