// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/mia.h"

#include <torch/torch.h>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/summary.h"

namespace dpforge::audit {

MiaScores mia_scores(torch::nn::Sequential& model, const data::Dataset& dataset) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();  // scoring in training mode is a known attack bug (tensorflow/privacy#484)
  MiaScores scores;
  constexpr int64_t kBatch = 1000;
  for (int64_t begin = 0; begin < dataset.size(); begin += kBatch) {
    const int64_t end = std::min(dataset.size(), begin + kBatch);
    const auto outputs = model->forward(dataset.inputs.slice(0, begin, end)).to(torch::kFloat64);
    const auto labels = dataset.labels.slice(0, begin, end);
    if (dataset.task == data::Task::kRegression) {
      // No class probabilities: the LOSS attack on the squared error alone.
      const auto loss = data::per_example_loss(dataset.task, outputs, labels, {});
      for (int64_t i = 0; i < end - begin; ++i) scores.loss.push_back(-loss[i].item<double>());
      continue;
    }
    const auto log_p = data::class_log_probabilities(dataset.task, outputs);
    const auto p = log_p.exp();
    const auto log_p_true = log_p.gather(1, labels.unsqueeze(1)).squeeze(1);
    const auto p_true = log_p_true.exp();
    // log(1 − p) computed stably from log p.
    const auto log_1mp = torch::log1p(-p.clamp_max(1 - 1e-15));
    const auto true_mask = torch::zeros_like(p).scatter_(1, labels.unsqueeze(1), 1.0);
    const auto others = (-(p * log_1mp) * (1 - true_mask)).sum(1);
    const auto mentr = -(1 - p_true) * log_p_true + others;
    const auto loss = -log_p_true;
    for (int64_t i = 0; i < end - begin; ++i) {
      scores.loss.push_back(-loss[i].item<double>());
      scores.mentr.push_back(-mentr[i].item<double>());
    }
  }
  model->train(was_training);
  return scores;
}

nlohmann::json membership_attacks(torch::nn::Sequential& model, const data::Dataset& members,
                                  const data::Dataset& non_members) {
  const auto in = mia_scores(model, members);
  const auto out = mia_scores(model, non_members);
  auto metrics = [](const std::vector<double>& in_scores, const std::vector<double>& out_scores) {
    return attack_metrics(CanaryAuditor(in_scores, out_scores));
  };
  nlohmann::json attacks = {
      {"members", members.size()},
      {"non_members", non_members.size()},
      {"note",
       "members: training examples; non-members: test examples; attack metrics, not a DP bound"},
      {"loss", metrics(in.loss, out.loss)}};
  // Modified entropy needs class probabilities, which a regression model does not give.
  if (!in.mentr.empty()) attacks["modified_entropy"] = metrics(in.mentr, out.mentr);
  return attacks;
}

}  // namespace dpforge::audit
