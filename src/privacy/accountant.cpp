// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/accountant.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "dpforge/privacy/pld.h"

namespace dpforge::privacy {

void Accountant::compose(double noise_multiplier, double sample_rate, int64_t count) {
  if (!(noise_multiplier >= 0) || !(sample_rate >= 0 && sample_rate <= 1) || count < 0) {
    throw std::domain_error(
        "compose: need noise_multiplier >= 0, sample_rate in [0, 1], count >= 0");
  }
  if (count == 0) return;
  if (!history_.empty() && history_.back().noise_multiplier == noise_multiplier &&
      history_.back().sample_rate == sample_rate) {
    history_.back().count += count;
    return;
  }
  history_.push_back({noise_multiplier, sample_rate, count});
}

int64_t Accountant::steps() const {
  int64_t total = 0;
  for (const auto& entry : history_) total += entry.count;
  return total;
}

nlohmann::json Accountant::to_json() const {
  auto history = nlohmann::json::array();
  for (const auto& entry : history_) {
    history.push_back({{"noise_multiplier", entry.noise_multiplier},
                       {"sample_rate", entry.sample_rate},
                       {"count", entry.count}});
  }
  return {{"accountant", name()}, {"adjacency", to_string(adjacency_)}, {"history", history}};
}

std::unique_ptr<Accountant> Accountant::from_json(const nlohmann::json& json) {
  auto adjacency = Adjacency::kAddRemove;
  if (json.contains("adjacency")) {
    const auto name = json.at("adjacency").get<std::string>();
    const auto parsed = kAdjacencyNames.parse(name);
    if (!parsed) {
      throw std::invalid_argument("unknown adjacency '" + name +
                                  "'; allowed: " + kAdjacencyNames.allowed());
    }
    adjacency = *parsed;
  }
  auto accountant = make_accountant(json.at("accountant").get<std::string>(), adjacency);
  for (const auto& entry : json.at("history")) {
    accountant->compose(entry.at("noise_multiplier").get<double>(),
                        entry.at("sample_rate").get<double>(), entry.at("count").get<int64_t>());
  }
  return accountant;
}

RdpAccountant::RdpAccountant(std::vector<double> orders, RdpConversion conversion)
    : orders_(std::move(orders)), conversion_(conversion) {}

std::vector<double> RdpAccountant::rdp_curve() const {
  // RDP composes additively, order by order (Mironov 2017, Prop. 1).
  std::vector<double> curve(orders_.size(), 0.0);
  for (const auto& entry : history_) {
    for (size_t i = 0; i < orders_.size(); ++i) {
      curve[i] += static_cast<double>(entry.count) *
                  rdp_sampled_gaussian(entry.sample_rate, entry.noise_multiplier, orders_[i]);
    }
  }
  return curve;
}

EpsilonAndOrder RdpAccountant::epsilon_and_order(double delta) const {
  if (history_.empty()) return {0, orders_.front()};
  const auto curve = rdp_curve();
  return rdp_to_epsilon(orders_, curve, delta, conversion_);
}

double RdpAccountant::epsilon(double delta) const { return epsilon_and_order(delta).epsilon; }

double RdpAccountant::delta(double epsilon) const {
  if (history_.empty()) return 0;
  const auto curve = rdp_curve();
  if (conversion_ == RdpConversion::kImproved) return rdp_to_delta(orders_, curve, epsilon);
  // Mironov 2017, Prop. 3 solved for δ: ε = ε_α + log(1/δ)/(α − 1).
  double log_delta = 0;
  for (size_t i = 0; i < orders_.size(); ++i) {
    if (orders_[i] > 1) log_delta = std::min(log_delta, (orders_[i] - 1) * (curve[i] - epsilon));
  }
  return std::exp(log_delta);
}

std::unique_ptr<Accountant> make_accountant(AccountantKind kind, Adjacency adjacency) {
  switch (kind) {
    case AccountantKind::kRdp:
      if (adjacency != Adjacency::kAddRemove) {
        throw std::invalid_argument(
            "the rdp accountant holds under add_remove adjacency only; replace_one needs the pld "
            "accountant");
      }
      return std::make_unique<RdpAccountant>();
    case AccountantKind::kPld:
      return std::make_unique<PldAccountant>(1e-4, adjacency);
  }
  throw std::invalid_argument("make_accountant: unknown kind");
}

std::unique_ptr<Accountant> make_accountant(const std::string& name, Adjacency adjacency) {
  const auto kind = kAccountantNames.parse(name);
  if (!kind) {
    throw std::invalid_argument("unknown accountant '" + name +
                                "'; allowed: " + kAccountantNames.allowed());
  }
  return make_accountant(*kind, adjacency);
}

}  // namespace dpforge::privacy
