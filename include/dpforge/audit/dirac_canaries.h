// SPDX-License-Identifier: Apache-2.0
// White-box Dirac canaries for a one-run audit of a DP-SGD run (Steinke, Nasr & Jagielski 2023;
// Nasr et al. 2023). Canary i is a training example whose gradient is `pre_clip_norm` on
// coordinate i of an auditor-owned vector that the model never reads, and zero elsewhere. Each
// canary is a member with probability ½, drawn from the auditor's own secret generator (never the
// trainer's: docs/design.md, invariant 7). Members join the training population, so the trainer's
// own Poisson sampler, clipping, noise and divisor act on them exactly as on real examples. The
// auditor observes every privatized update of its coordinates and scores each canary with the
// per-step likelihood ratio of the claimed mechanism,
//   sᵢ = Σ_t log(1 − q + q·exp((2x_t − 1)/(2σ²))),  x_t = update of coordinate i in units of C,
// the Neyman–Pearson test of "sampled at rate q, clipped to C, noised with σC" for one canary.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <vector>

namespace dpforge::audit {

class DiracCanaries {
 public:
  DiracCanaries(int64_t count, uint64_t secret_seed, double pre_clip_norm);

  int64_t count() const { return static_cast<int64_t>(member_.size()); }
  /// Ids of the member canaries, ascending (the ones that join the training population).
  const std::vector<int64_t>& members() const { return members_; }
  double pre_clip_norm() const { return pre_clip_norm_; }

  /// Scores one step from the privatized (noised, divided) gradient of the coordinates, given the
  /// claimed noise multiplier σ, sampling rate q, clipping norm C and expected batch size.
  void observe(const torch::Tensor& privatized, double noise_multiplier, double sample_rate,
               double max_grad_norm, double expected_batch_size);

  /// Scores of member and non-member canaries (higher = more likely a member).
  std::vector<double> member_scores() const;
  std::vector<double> non_member_scores() const;

  /// Conformance of the observed updates with the claimed mechanism (the z statistics of the two
  /// two-sided tests of audit::conformance_gates):
  ///  - noise: non-member coordinates receive pure noise x_t = σZ_t, so Σx²/σ² ~ χ²_K; a value far
  ///    below K means less noise than claimed, far above, more (z = (Σx²/σ² − K)/√(2K));
  ///  - sampling and clipping: a member's x_t = B_t + σZ_t has mean q; a mean far above q means
  ///    canaries are sampled more often than claimed or not clipped, far below, sampled less or
  ///    shrunk after clipping (z = (x̄ − q)/√((q(1−q)+σ²)/K)).
  struct Conformance {
    double noise_std_ratio = 1;  // measured / claimed noise std
    double noise_z = 0;
    double member_mean = 0;  // ≈ q·(clipped norm / C)
    double member_z = 0;
    int64_t noise_samples = 0, member_samples = 0;
  };
  Conformance conformance() const;

  /// What a checkpoint needs to continue the audit: the accumulated statistics (JSON) and the
  /// per-canary scores. Membership is rebuilt from the secret seed, which the checkpoint keeps.
  nlohmann::json statistics() const;
  const torch::Tensor& scores() const { return scores_; }
  void restore(const nlohmann::json& statistics, const torch::Tensor& scores);

 private:
  std::vector<bool> member_;
  std::vector<int64_t> members_;
  double pre_clip_norm_;
  torch::Tensor scores_;  // float64
  torch::Tensor member_mask_;
  double noise_sum_squares_ = 0, member_sum_ = 0;
  int64_t noise_samples_ = 0, member_samples_ = 0;
  double claimed_sigma_ = 0, claimed_rate_ = 0;
};

}  // namespace dpforge::audit
