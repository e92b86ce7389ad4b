// SPDX-License-Identifier: Apache-2.0
// The held-out metrics that fit each task (docs/recipes.md, "Test metrics"): binary — AUROC,
// average precision, log-loss, accuracy beside the majority-class baseline; multi-class — accuracy
// and macro-F1; regression — RMSE, MAE and R². Pure functions of scores and labels, checked against
// scikit-learn's definitions (tests/train/task_metrics_test.cpp).
//
// Example:
//   const auto auroc = train::binary_auroc(logits, labels);       // nullopt: one class only
//   const auto ap = train::average_precision(logits, labels);     // area under precision-recall
//   const double f1 = train::macro_f1(outputs.argmax(1), labels, /*classes=*/10);
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <optional>

namespace dpforge::train {

/// AUROC of binary scores: P(a positive outscores a negative), ties counting one half (the
/// Mann–Whitney statistic); nullopt without both classes.
std::optional<double> binary_auroc(const torch::Tensor& scores, const torch::Tensor& labels);

/// Average precision, scikit-learn's average_precision_score: Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the
/// distinct scores from the highest down (tied scores are one threshold), Pₖ and Rₖ the precision
/// and recall of calling positive everything scored at least the k-th; nullopt without positives.
/// A random ranking scores the positives' share, not 0.5.
std::optional<double> average_precision(const torch::Tensor& scores, const torch::Tensor& labels);

/// Macro-F1 of class predictions: the mean over classes of 2·TP / (2·TP + FP + FN), over the
/// classes that occur among the labels or the predictions (scikit-learn's f1_score(average =
/// 'macro')); `classes` bounds the class ids.
double macro_f1(const torch::Tensor& predictions, const torch::Tensor& labels, int64_t classes);

/// The share of the most frequent class among `labels`: the accuracy of a model that always
/// answers it, the floor a classifier's accuracy is read against.
double majority_share(const torch::Tensor& labels, int64_t classes);

/// R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² given the squared error's sum, in the units of `targets`;
/// nullopt when the targets do not vary.
std::optional<double> r_squared(double squared_error_sum, const torch::Tensor& targets);

}  // namespace dpforge::train
