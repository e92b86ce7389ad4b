// SPDX-License-Identifier: Apache-2.0
// What the labels mean: the learning task, the per-example loss it trains with and the model
// output it needs. Training, evaluation and the black-box attacks all score an example through
// `per_example_loss`: training with the recipe's options (label smoothing, Huber), evaluation and
// the attacks with the task's plain loss (cross-entropy, or squared error for regression).
//
//  - multiclass: K logits, cross-entropy (with label smoothing ε: (1−ε)·CE + ε·mean over classes);
//  - binary: one logit z, binary cross-entropy log(1 + e^{−z}) for y = 1, log(1 + e^{z}) for y = 0;
//  - regression: one output ŷ, squared error (ŷ − y)² or Huber with threshold d:
//    ½(ŷ − y)² when |ŷ − y| ≤ d, else d(|ŷ − y| − ½d).
//
// Example:
//   const auto losses = data::per_example_loss(data::Task::kBinary, outputs, labels, {});
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>

#include "dpforge/core/enum_names.h"

namespace dpforge::data {

enum class Task { kMulticlass, kBinary, kRegression };
inline constexpr EnumNames<Task, 3> kTaskNames{{{{Task::kMulticlass, "multiclass"},
                                                 {Task::kBinary, "binary"},
                                                 {Task::kRegression, "regression"}}}};
inline std::string to_string(Task task) { return std::string(kTaskNames.name(task)); }

enum class RegressionLoss { kMse, kHuber };
inline constexpr EnumNames<RegressionLoss, 2> kRegressionLossNames{
    {{{RegressionLoss::kMse, "mse"}, {RegressionLoss::kHuber, "huber"}}}};

struct LossOptions {
  /// Multiclass only: label smoothing in [0, 1).
  double label_smoothing = 0;
  RegressionLoss regression = RegressionLoss::kMse;
  /// Huber's threshold d (in the units of the regression target as trained).
  double huber_delta = 1.0;
};

/// Model outputs the task needs: K logits for multiclass, one for binary and regression.
int64_t model_outputs(Task task, int64_t num_classes);

/// One loss per example. `outputs` is [N, model_outputs]; `labels` is int64 class indices
/// (multiclass, binary: 0 or 1) or float targets (regression), [N].
torch::Tensor per_example_loss(Task task, const torch::Tensor& outputs, const torch::Tensor& labels,
                               const LossOptions& options);

/// Correct predictions among `outputs` against `labels` (argmax for multiclass, z > 0 for binary,
/// 0 for regression, which has no notion of correct).
int64_t count_correct(Task task, const torch::Tensor& outputs, const torch::Tensor& labels);

/// Log-probabilities of the classes [N, K] a classifier's outputs mean: log-softmax of K logits,
/// or (log σ(−z), log σ(z)) for a binary logit z. Regression has none (throws).
torch::Tensor class_log_probabilities(Task task, const torch::Tensor& outputs);

/// The label dtype a task trains on: int64 class indices, or float32 targets for regression.
torch::Dtype label_dtype(Task task);

}  // namespace dpforge::data
