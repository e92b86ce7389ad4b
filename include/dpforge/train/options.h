// SPDX-License-Identifier: Apache-2.0
// The training engine's options: how to train (TrainOptions) and under which privacy claim
// (PrivacyOptions). A recipe's [train] and [privacy] sections are these structs
// (config::Recipe::train, ::privacy); a program that is not a recipe file fills them in code.
//
// Example:
//   auto train =
//   train::TrainOptions().epochs(5).batch_size(512).optimizer(train::OptimizerKind::kAdam)
//                    .lr(2e-3);
//   auto privacy = train::PrivacyOptions().enabled(true).max_grad_norm(1.0).target_epsilon(3);
//   auto options = train::PrivateTrainingOptions().train(train).privacy(privacy);
//   // train::train_private(options, model, data, …) (trainer.h)
#pragma once
#include <cstdint>
#include <optional>

#include "dpforge/audit/sensitivity_check.h"
#include "dpforge/core/enum_names.h"
#include "dpforge/core/options.h"
#include "dpforge/data/sources.h"
#include "dpforge/data/task.h"
#include "dpforge/dp/clipping.h"
#include "dpforge/privacy/accountant.h"

namespace dpforge::train {

enum class OptimizerKind { kSgd, kAdam, kAdamW };
inline constexpr EnumNames<OptimizerKind, 3> kOptimizerNames{{{{OptimizerKind::kSgd, "sgd"},
                                                               {OptimizerKind::kAdam, "adam"},
                                                               {OptimizerKind::kAdamW, "adamw"}}}};
enum class LrSchedule { kConstant, kCosine };
inline constexpr EnumNames<LrSchedule, 2> kLrScheduleNames{
    {{{LrSchedule::kConstant, "constant"}, {LrSchedule::kCosine, "cosine"}}}};
enum class SecureNoise { kAuto, kOn, kOff };
inline constexpr EnumNames<SecureNoise, 3> kSecureNoiseNames{
    {{{SecureNoise::kAuto, "auto"}, {SecureNoise::kOn, "true"}, {SecureNoise::kOff, "false"}}}};

/// How to train, private or not (a recipe's [train]).
struct TrainOptions {
  DPF_ARG(int64_t, epochs) = 10;
  /// Logical batch size. Under DP this is the *expected* batch size q*N of Poisson sampling.
  DPF_ARG(int64_t, batch_size) = 128;
  /// Largest batch pushed through the model at once; bigger logical batches are accumulated.
  DPF_ARG(int64_t, max_physical_batch) = 256;
  DPF_ARG(OptimizerKind, optimizer) = OptimizerKind::kSgd;
  DPF_ARG(double, lr) = 0.1;
  /// constant, or cosine (decays lr to 0 over all steps: steadier final accuracy).
  DPF_ARG(LrSchedule, lr_schedule) = LrSchedule::kConstant;
  /// SGD momentum (ignored by adam/adamw).
  DPF_ARG(double, momentum) = 0.0;
  DPF_ARG(double, weight_decay) = 0.0;
  /// multiclass, binary, regression, or auto (inferred from the training labels).
  DPF_ARG(data::TaskChoice, task) = data::TaskChoice::kAuto;
  DPF_ARG(data::RegressionLoss, regression_loss) = data::RegressionLoss::kMse;
  DPF_ARG(double, huber_delta) = 1.0;
  /// Label smoothing of the cross-entropy loss in [0, 1); 0 = none. A defense.
  DPF_ARG(double, label_smoothing) = 0.0;
  /// Stop when the validation accuracy (data.validation_size) has not improved for this many
  /// epochs; 0 = never. A defense.
  DPF_ARG(int64_t, early_stopping_patience) = 0;
  /// Seed for initialization, batch order and (under DP) noise. Unset: drawn from the OS, and the
  /// run is not reproducible. Set: reproducible, hence not fit for production DP.
  DPF_ARG(std::optional<uint64_t>, seed) = std::nullopt;
  /// Steps between checkpoints (one is also written before the first step and at the end);
  /// 0 = every checkpoint_seconds. `dpforge train --resume DIR` continues from the newest intact
  /// one.
  DPF_ARG(int64_t, checkpoint_every) = 0;
  /// Seconds of training between checkpoints when checkpoint_every is 0.
  DPF_ARG(double, checkpoint_seconds) = 60;
  /// Keep DIR/checkpoints after the run has finished. Off by default: a private run's snapshots
  /// hold its secret noise key, so they must not outlive the crash they guard against.
  DPF_ARG(bool, keep_checkpoints) = false;
};

/// The privacy claim and the mechanism's knobs (a recipe's [privacy]).
struct PrivacyOptions {
  /// Train with DP-SGD.
  DPF_ARG(bool, enabled) = false;
  /// Clipping norm C of per-example gradients.
  DPF_ARG(double, max_grad_norm) = 1.0;
  /// σ: noise std on the clipped sum is σ·C. 0 = calibrate from target_epsilon.
  DPF_ARG(double, noise_multiplier) = 0.0;
  /// Privacy budget ε for the whole run: σ is calibrated to it (when noise_multiplier = 0), and
  /// no step that would exceed it is taken. 0 = no budget (then give σ).
  DPF_ARG(double, target_epsilon) = 0.0;
  DPF_ARG(double, delta) = 1e-5;
  /// The private training set's size N as a public number (e.g. a published split's size): q, the
  /// steps, σ and the divisor are planned from it and never from the real count. 0 = undeclared:
  /// N is released by a Gaussian count (size_noise_multiplier), composed in ε (docs/privacy.md).
  DPF_ARG(int64_t, public_dataset_size) = 0;
  /// σ_n of that count: N̂ = N + σ_n·Z (the count's sensitivity is 1 under add/remove).
  DPF_ARG(double, size_noise_multiplier) = 20.0;
  DPF_ARG(dp::ClipMode, clipping) = dp::ClipMode::kFlat;
  /// pld (tight) or rdp.
  DPF_ARG(privacy::AccountantKind, accountant) = privacy::AccountantKind::kPld;
  /// The neighbouring relation the claim holds under: add_remove (N private) or replace_one (N
  /// public by definition, ε of a 2C shift; pld only).
  DPF_ARG(privacy::Adjacency, adjacency) = privacy::Adjacency::kAddRemove;
  /// true: the noise key comes from the OS CSPRNG (getrandom) and each normal is the sum of four,
  /// halved, against floating-point attacks on Gaussian samplers (as Opacus's secure mode).
  /// auto = true unless train.seed is set.
  DPF_ARG(SecureNoise, secure_noise) = SecureNoise::kAuto;
};

/// A private run's options: how to train, the privacy claim, and at which fraction of the steps
/// the run's own sensitivity check looks (audit/sensitivity_check.h).
struct PrivateTrainingOptions {
  DPF_ARG(TrainOptions, train);
  DPF_ARG(PrivacyOptions, privacy);
  DPF_ARG(double, sensitivity_rate) = audit::kDefaultSensitivityRate;
};

/// privacy.secure_noise resolved: auto means on unless the run is seeded (train.seed).
inline bool secure_noise(const PrivacyOptions& privacy, const TrainOptions& train) {
  return privacy.secure_noise() == SecureNoise::kOn ||
         (privacy.secure_noise() == SecureNoise::kAuto && !train.seed().has_value());
}

}  // namespace dpforge::train
