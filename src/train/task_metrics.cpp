// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/task_metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace dpforge::train {
namespace {

// Scores as float64 on the CPU, sorted descending, with whether each is a positive.
struct Ranked {
  torch::Tensor scores;    // descending
  torch::Tensor positive;  // bool, in the same order
};

Ranked rank_descending(const torch::Tensor& scores, const torch::Tensor& labels) {
  const auto s = scores.to(torch::kFloat64).cpu().contiguous().flatten();
  const auto [sorted, order] = s.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true);
  return {sorted.contiguous(), labels.cpu().flatten().eq(1).index_select(0, order).contiguous()};
}

}  // namespace

std::optional<double> binary_auroc(const torch::Tensor& logits, const torch::Tensor& labels) {
  // Mann–Whitney: (Σ ranks of the positives − P(P+1)/2) / (P·N), tied scores sharing their
  // average rank, so ties count one half.
  const auto scores = logits.to(torch::kFloat64).contiguous().cpu();
  const auto positive = labels.eq(1).cpu().contiguous();
  const int64_t n = scores.numel();
  const auto [sorted, order] = scores.sort();
  const auto* s = sorted.data_ptr<double>();
  const auto* index = order.data_ptr<int64_t>();
  const auto* is_positive = positive.data_ptr<bool>();
  double positive_rank_sum = 0;
  int64_t positives = 0;
  for (int64_t begin = 0; begin < n;) {
    int64_t end = begin + 1;
    while (end < n && s[end] == s[begin]) ++end;
    const double average_rank = 0.5 * static_cast<double>(begin + 1 + end);
    for (int64_t i = begin; i < end; ++i) {
      if (is_positive[index[i]]) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    }
    begin = end;
  }
  const auto negatives = n - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1) / 2) / (p * static_cast<double>(negatives));
}

std::optional<double> average_precision(const torch::Tensor& scores, const torch::Tensor& labels) {
  const auto ranked = rank_descending(scores, labels);
  const int64_t n = ranked.scores.numel();
  const auto* s = ranked.scores.data_ptr<double>();
  const auto* is_positive = ranked.positive.data_ptr<bool>();
  const int64_t positives = ranked.positive.sum().item<int64_t>();
  if (positives == 0) return std::nullopt;
  double precision_sum = 0;  // Σ (Rₖ − Rₖ₋₁)·Pₖ, with Rₖ − Rₖ₋₁ = (new true positives) / P
  int64_t true_positives = 0;
  for (int64_t begin = 0; begin < n;) {
    int64_t end = begin;
    int64_t new_positives = 0;
    while (end < n && s[end] == s[begin]) new_positives += is_positive[end++] ? 1 : 0;
    true_positives += new_positives;
    precision_sum += static_cast<double>(new_positives) * static_cast<double>(true_positives) /
                     static_cast<double>(end);
    begin = end;
  }
  return precision_sum / static_cast<double>(positives);
}

double macro_f1(const torch::Tensor& predictions, const torch::Tensor& labels, int64_t classes) {
  const auto predicted = predictions.to(torch::kLong).cpu().flatten();
  const auto truth = labels.to(torch::kLong).cpu().flatten();
  const auto hits = predicted.eq(truth);
  const auto true_positives = torch::bincount(truth.masked_select(hits), {}, classes);
  const auto predicted_counts = torch::bincount(predicted, {}, classes);
  const auto label_counts = torch::bincount(truth, {}, classes);
  double sum = 0;
  int64_t present = 0;
  for (int64_t c = 0; c < classes; ++c) {
    const auto tp = true_positives[c].item<int64_t>();
    const auto denominator = predicted_counts[c].item<int64_t>() + label_counts[c].item<int64_t>();
    if (denominator == 0) continue;  // a class neither predicted nor present
    sum += 2.0 * static_cast<double>(tp) / static_cast<double>(denominator);
    ++present;
  }
  return present > 0 ? sum / static_cast<double>(present) : 0.0;
}

double majority_share(const torch::Tensor& labels, int64_t classes) {
  const auto truth = labels.to(torch::kLong).cpu().flatten();
  if (truth.numel() == 0) return 0;
  return torch::bincount(truth, {}, classes).max().item<double>() /
         static_cast<double>(truth.numel());
}

std::optional<double> r_squared(double squared_error_sum, const torch::Tensor& targets) {
  const auto y = targets.to(torch::kFloat64).cpu().flatten();
  const double total = (y - y.mean()).square().sum().item<double>();
  if (!(total > 0)) return std::nullopt;
  return 1.0 - squared_error_sum / total;
}

}  // namespace dpforge::train
