// SPDX-License-Identifier: Apache-2.0
// An accountant remembers every step of the Poisson-subsampled Gaussian mechanism that was taken
// and turns that history into ε for a δ. The history is the whole state: it is what a checkpoint
// saves, so a resumed run reports ε over every step actually taken (docs/design.md, invariant 6).
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "dpforge/core/enum_names.h"
#include "dpforge/privacy/rdp.h"

namespace dpforge::privacy {

/// `count` consecutive steps with noise multiplier σ and Poisson sampling rate q.
struct SgmSteps {
  double noise_multiplier = 0;
  double sample_rate = 0;
  int64_t count = 0;
  bool operator==(const SgmSteps&) const = default;
};

/// Which datasets are neighbours. add_remove: one has an example the other lacks (Opacus's and
/// dp_accounting's default; the dataset size is then private). replace_one: one example swapped
/// for another, the size equal and public; a step's clipped sum then moves by up to 2C.
enum class Adjacency { kAddRemove, kReplaceOne };
inline constexpr EnumNames<Adjacency, 2> kAdjacencyNames{
    {{{Adjacency::kAddRemove, "add_remove"}, {Adjacency::kReplaceOne, "replace_one"}}}};
inline std::string to_string(Adjacency adjacency) {
  return std::string(kAdjacencyNames.name(adjacency));
}

class Accountant {
 public:
  explicit Accountant(Adjacency adjacency = Adjacency::kAddRemove) : adjacency_(adjacency) {}
  virtual ~Accountant() = default;
  /// "rdp" or "pld".
  virtual std::string name() const = 0;
  /// Smallest ε such that every step so far is (ε, δ)-DP together; 0 before any step.
  virtual double epsilon(double delta) const = 0;
  /// Smallest δ this accountant certifies at ε for every step so far (an upper bound on the true
  /// δ(ε), as ε(δ) is one on the true ε); 0 before any step.
  virtual double delta(double epsilon) const = 0;

  /// Records `count` steps; consecutive steps with equal (σ, q) are merged.
  void compose(double noise_multiplier, double sample_rate, int64_t count = 1);
  void compose(const SgmSteps& steps) {
    compose(steps.noise_multiplier, steps.sample_rate, steps.count);
  }
  const std::vector<SgmSteps>& history() const { return history_; }
  /// The neighbouring relation every ε and δ of this accountant holds under.
  Adjacency adjacency() const { return adjacency_; }
  int64_t steps() const;

  nlohmann::json to_json() const;
  /// Rebuilds an accountant saved by to_json (its name picks the kind; no "adjacency": add/remove,
  /// as every accountant saved before replace-one existed).
  static std::unique_ptr<Accountant> from_json(const nlohmann::json& json);

 protected:
  std::vector<SgmSteps> history_;

 private:
  Adjacency adjacency_;
};

/// RDP accountant over an order grid (default: default_rdp_orders()). Add/remove adjacency only:
/// the sampled Gaussian's RDP bound (Mironov, Talwar & Zhang 2019) is derived for it.
class RdpAccountant final : public Accountant {
 public:
  explicit RdpAccountant(std::vector<double> orders = default_rdp_orders(),
                         RdpConversion conversion = RdpConversion::kImproved);
  std::string name() const override { return "rdp"; }
  double epsilon(double delta) const override;
  /// min over α of the same conversion solved for δ (rdp_to_delta; classic: e^{(α−1)(ε_α − ε)}).
  double delta(double epsilon) const override;
  EpsilonAndOrder epsilon_and_order(double delta) const;
  /// The composed RDP curve ε_α over orders().
  std::vector<double> rdp_curve() const;
  const std::vector<double>& orders() const { return orders_; }

 private:
  std::vector<double> orders_;
  RdpConversion conversion_;
};

enum class AccountantKind { kRdp, kPld };
inline constexpr EnumNames<AccountantKind, 2> kAccountantNames{
    {{{AccountantKind::kRdp, "rdp"}, {AccountantKind::kPld, "pld"}}}};
inline std::string to_string(AccountantKind kind) {
  return std::string(kAccountantNames.name(kind));
}

/// std::invalid_argument for rdp under replace_one (only pld accounts for it).
std::unique_ptr<Accountant> make_accountant(AccountantKind kind,
                                            Adjacency adjacency = Adjacency::kAddRemove);
/// The same by name (JSON, command lines); std::invalid_argument listing the allowed names.
std::unique_ptr<Accountant> make_accountant(const std::string& name,
                                            Adjacency adjacency = Adjacency::kAddRemove);

}  // namespace dpforge::privacy
