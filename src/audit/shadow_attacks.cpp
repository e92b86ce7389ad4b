// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/shadow_attacks.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dpforge::audit {
namespace {

// A σ of 0 (all shadows agree) would make every likelihood infinite.
constexpr double kMinStd = 1e-4;

// Per target: mean and std of φ over the shadows selected by `mask`, count of them, and the
// residuals' pooled std over all targets (the fixed-variance estimate).
struct Moments {
  torch::Tensor mean, std, count;
  double pooled_std = kMinStd;
};

Moments moments(const torch::Tensor& phi, const torch::Tensor& mask) {
  const auto weights = mask.to(torch::kFloat64);
  Moments m;
  m.count = weights.sum(0);
  m.mean = (phi * weights).sum(0) / m.count.clamp_min(1);
  const auto residual = (phi - m.mean) * weights;
  m.std = (residual.square().sum(0) / (m.count - 1).clamp_min(1)).sqrt().clamp_min(kMinStd);
  const double dof = std::max(1.0, (m.count - 1).clamp_min(0).sum().item<double>());
  m.pooled_std = std::max(kMinStd, std::sqrt(residual.square().sum().item<double>() / dof));
  return m;
}

torch::Tensor log_normal(const torch::Tensor& x, const torch::Tensor& mean,
                         const torch::Tensor& std) {
  return -0.5 * ((x - mean) / std).square() - std.log();
}

std::vector<double> to_vector(const torch::Tensor& values) {
  const auto contiguous = values.to(torch::kFloat64).contiguous();
  return {contiguous.data_ptr<double>(), contiguous.data_ptr<double>() + contiguous.numel()};
}

}  // namespace

ConfidenceSignals confidence_signals(torch::nn::Sequential& model, const data::Dataset& dataset) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> phi, probability;
  constexpr int64_t kBatch = 1000;
  for (int64_t begin = 0; begin < dataset.size(); begin += kBatch) {
    const int64_t end = std::min(dataset.size(), begin + kBatch);
    const auto outputs = model->forward(dataset.inputs.slice(0, begin, end)).to(torch::kFloat64);
    if (dataset.task == data::Task::kRegression) {
      // φ = −squared error, and a Gaussian likelihood e^{−(ŷ−y)²/2} as Pr(x|θ).
      const auto loss =
          data::per_example_loss(dataset.task, outputs, dataset.labels.slice(0, begin, end), {});
      phi.push_back(-loss);
      probability.push_back((-0.5 * loss).exp());
      continue;
    }
    const auto log_p = data::class_log_probabilities(dataset.task, outputs);
    const auto labels = dataset.labels.slice(0, begin, end).unsqueeze(1);
    const auto log_p_true = log_p.gather(1, labels).squeeze(1);
    // log(1 − p_y) as the log-sum-exp of the other classes: exact where 1 − p_y underflows.
    const auto log_rest =
        torch::logsumexp(log_p.scatter(1, labels, -std::numeric_limits<double>::infinity()), 1);
    phi.push_back(log_p_true - log_rest);
    probability.push_back(log_p_true.exp());
  }
  model->train(was_training);
  if (phi.empty()) return {torch::zeros({0}, torch::kFloat64), torch::zeros({0}, torch::kFloat64)};
  return {torch::cat(phi), torch::cat(probability)};
}

std::vector<double> lira_offline_scores(const ShadowSignals& s, bool fixed_variance) {
  const auto out = moments(s.shadow_phi, s.shadow_in.logical_not());
  const auto spread = fixed_variance ? torch::full_like(out.std, out.pooled_std) : out.std;
  return to_vector((s.target_phi - out.mean) / spread);
}

std::vector<double> lira_online_scores(const ShadowSignals& s, bool fixed_variance) {
  const auto in = moments(s.shadow_phi, s.shadow_in);
  const auto out = moments(s.shadow_phi, s.shadow_in.logical_not());
  // Per-example variances need two shadows on each side; otherwise the pooled one is used.
  auto std_in = fixed_variance
                    ? torch::full_like(in.std, in.pooled_std)
                    : torch::where(in.count >= 2, in.std, torch::full_like(in.std, in.pooled_std));
  auto std_out = fixed_variance ? torch::full_like(out.std, out.pooled_std)
                                : torch::where(out.count >= 2, out.std,
                                               torch::full_like(out.std, out.pooled_std));
  auto online =
      log_normal(s.target_phi, in.mean, std_in) - log_normal(s.target_phi, out.mean, std_out);
  // A target no shadow trained on (or none left out) has no IN (OUT) estimate: the offline test,
  // shifted by the average IN−OUT gap, stands in for it.
  const auto both = (in.count > 0).logical_and(out.count > 0);
  if (!both.all().item<bool>()) {
    const double gap = both.any().item<bool>()
                           ? (in.mean - out.mean).masked_select(both).mean().item<double>()
                           : 0.0;
    const auto in_mean = torch::where(in.count > 0, in.mean, out.mean + gap);
    const auto out_mean = torch::where(out.count > 0, out.mean, in.mean - gap);
    online =
        log_normal(s.target_phi, in_mean, std_in) - log_normal(s.target_phi, out_mean, std_out);
  }
  return to_vector(online);
}

std::vector<double> rmia_offline_scores(const ShadowSignals& s,
                                        const torch::Tensor& population_probability,
                                        const torch::Tensor& population_shadow_probability,
                                        double a, double gamma) {
  const auto out_mask = s.shadow_in.logical_not().to(torch::kFloat64);
  const auto out_mean = (s.shadow_probability * out_mask).sum(0) / out_mask.sum(0).clamp_min(1);
  const auto marginal_x = 0.5 * ((1 + a) * out_mean + (1 - a));
  const auto ratio_x = s.target_probability / marginal_x;
  const auto marginal_z = 0.5 * ((1 + a) * population_shadow_probability.mean(0) + (1 - a));
  const auto ratio_z = population_probability / marginal_z;
  // Fraction of z dominated: LR(x)/LR(z) > γ  ⇔  LR(z) < LR(x)/γ, counted by binary search.
  const auto sorted_z = std::get<0>(ratio_z.sort());
  const auto dominated =
      torch::searchsorted(sorted_z, ratio_x / gamma, /*out_int32=*/false, /*right=*/false);
  return to_vector(dominated.to(torch::kFloat64) /
                   static_cast<double>(std::max<int64_t>(1, sorted_z.numel())));
}

}  // namespace dpforge::audit
