// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/dirac_canaries.h"

#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "dpforge/core/random.h"

namespace dpforge::audit {

DiracCanaries::DiracCanaries(int64_t count, uint64_t secret_seed, double pre_clip_norm)
    : pre_clip_norm_(pre_clip_norm), scores_(torch::zeros({count}, torch::kFloat64)) {
  PhiloxUniform coin(secret_seed);
  member_.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    member_[static_cast<size_t>(i)] = coin.next() <= 0.5;
    if (member_[static_cast<size_t>(i)]) members_.push_back(i);
  }
  member_mask_ = torch::zeros({count}, torch::kBool);
  for (int64_t id : members_) member_mask_[id] = true;
}

void DiracCanaries::observe(const torch::Tensor& privatized, double noise_multiplier,
                            double sample_rate, double max_grad_norm, double expected_batch_size) {
  torch::NoGradGuard no_grad;
  // Back to the units of the clipped sum, then of C: x_t = B_t + σZ_t for a faithful mechanism.
  const auto x =
      privatized.to(torch::kCPU, torch::kFloat64) * (expected_batch_size / max_grad_norm);
  const double sigma2 = std::max(noise_multiplier * noise_multiplier, 1e-12);
  const double q = std::min(std::max(sample_rate, 1e-300), 1.0);
  const auto log_ratio = q >= 1.0 ? (2 * x - 1) / (2 * sigma2)
                                  : torch::logaddexp(torch::full_like(x, std::log1p(-q)),
                                                     std::log(q) + (2 * x - 1) / (2 * sigma2));
  scores_ += log_ratio;
  claimed_sigma_ = noise_multiplier;
  claimed_rate_ = sample_rate;
  const auto outsiders = x.masked_select(member_mask_.logical_not());
  noise_sum_squares_ += outsiders.square().sum().item<double>();
  noise_samples_ += outsiders.numel();
  const auto insiders = x.masked_select(member_mask_);
  member_sum_ += insiders.sum().item<double>();
  member_samples_ += insiders.numel();
}

DiracCanaries::Conformance DiracCanaries::conformance() const {
  Conformance result;
  result.noise_samples = noise_samples_;
  result.member_samples = member_samples_;
  const double sigma2 = claimed_sigma_ * claimed_sigma_;
  if (noise_samples_ > 0 && sigma2 > 0) {
    const double k = static_cast<double>(noise_samples_);
    const double chi2 = noise_sum_squares_ / sigma2;
    result.noise_std_ratio = std::sqrt(chi2 / k);
    result.noise_z = (chi2 - k) / std::sqrt(2 * k);
  }
  if (member_samples_ > 0) {
    const double k = static_cast<double>(member_samples_);
    result.member_mean = member_sum_ / k;
    const double q = claimed_rate_;
    result.member_z = (result.member_mean - q) / std::sqrt((q * (1 - q) + sigma2) / k);
  }
  return result;
}

nlohmann::json DiracCanaries::statistics() const {
  return {{"noise_sum_squares", noise_sum_squares_}, {"member_sum", member_sum_},
          {"noise_samples", noise_samples_},         {"member_samples", member_samples_},
          {"claimed_sigma", claimed_sigma_},         {"claimed_rate", claimed_rate_}};
}

void DiracCanaries::restore(const nlohmann::json& statistics, const torch::Tensor& scores) {
  TORCH_CHECK(scores.sizes() == scores_.sizes(), "canary scores in the checkpoint do not match");
  scores_ = scores.to(torch::kFloat64).clone();
  noise_sum_squares_ = statistics.at("noise_sum_squares").get<double>();
  member_sum_ = statistics.at("member_sum").get<double>();
  noise_samples_ = statistics.at("noise_samples").get<int64_t>();
  member_samples_ = statistics.at("member_samples").get<int64_t>();
  claimed_sigma_ = statistics.at("claimed_sigma").get<double>();
  claimed_rate_ = statistics.at("claimed_rate").get<double>();
}

std::vector<double> DiracCanaries::member_scores() const {
  std::vector<double> scores;
  const auto* data = scores_.data_ptr<double>();
  for (int64_t i = 0; i < count(); ++i) {
    if (member_[static_cast<size_t>(i)]) scores.push_back(data[i]);
  }
  return scores;
}

std::vector<double> DiracCanaries::non_member_scores() const {
  std::vector<double> scores;
  const auto* data = scores_.data_ptr<double>();
  for (int64_t i = 0; i < count(); ++i) {
    if (!member_[static_cast<size_t>(i)]) scores.push_back(data[i]);
  }
  return scores;
}

}  // namespace dpforge::audit
