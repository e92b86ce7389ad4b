// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/calibration.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "dpforge/privacy/accountant.h"

namespace dpforge::privacy {

int64_t steps_for_epochs(double epochs, double sample_rate) {
  if (!(epochs > 0) || !(sample_rate > 0 && sample_rate <= 1)) {
    throw std::domain_error("steps_for_epochs: need epochs > 0 and sample_rate in (0, 1]");
  }
  // The 1e-9 keeps exact ratios such as 2 / 0.01 from rounding up to 201.
  return static_cast<int64_t>(std::ceil(epochs / sample_rate * (1 - 1e-12) - 1e-9));
}

AccountantFactory accountant_factory(AccountantKind kind) {
  return [kind] { return make_accountant(kind); };
}

AccountantFactory accountant_factory(AccountantKind kind, std::vector<SgmSteps> releases,
                                     Adjacency adjacency) {
  return [kind, releases = std::move(releases), adjacency] {
    auto accountant = make_accountant(kind, adjacency);
    for (const auto& release : releases) accountant->compose(release);
    return accountant;
  };
}

double epsilon_for(AccountantKind accountant, double noise_multiplier, double sample_rate,
                   int64_t steps, double delta) {
  return epsilon_for(accountant_factory(accountant), noise_multiplier, sample_rate, steps, delta);
}

double calibrate_noise_multiplier(AccountantKind accountant, double target_epsilon, double delta,
                                  double sample_rate, int64_t steps) {
  return calibrate_noise_multiplier(accountant_factory(accountant), target_epsilon, delta,
                                    sample_rate, steps);
}

double epsilon_for(const AccountantFactory& accountant, double noise_multiplier, double sample_rate,
                   int64_t steps, double delta) {
  auto instance = accountant();
  instance->compose(noise_multiplier, sample_rate, steps);
  return instance->epsilon(delta);
}

double calibrate_noise_multiplier(const AccountantFactory& accountant, double target_epsilon,
                                  double delta, double sample_rate, int64_t steps) {
  if (!(target_epsilon > 0)) throw std::domain_error("target epsilon must be > 0");
  // With no noise at all an example changes the output only if some step samples it, which
  // happens with probability 1 − (1 − q)^T: a δ at or above that is met at ε = 0 by every σ, and
  // the search below would walk σ toward 0, where no accountant's numerics hold.
  const double ever_sampled = -std::expm1(static_cast<double>(steps) * std::log1p(-sample_rate));
  if (delta >= ever_sampled) {
    throw std::domain_error(fmt::format(
        "delta {} is at or above 1 - (1 - q)^T = {:.6g}, the chance that {} steps at q = {} "
        "sample a given example at all: epsilon 0 then holds with no noise, so there is nothing "
        "to calibrate; use a delta far below it (and below 1/N)",
        delta, ever_sampled, steps, sample_rate));
  }
  constexpr double kMaxNoise = 1e4, kMinNoise = 1e-3;
  auto epsilon = [&](double sigma) {
    return epsilon_for(accountant, sigma, sample_rate, steps, delta);
  };
  // The PLD is tighter than RDP, so RDP's (fast) answer is a safe upper end to start from.
  const bool rdp = accountant()->name() == "rdp";
  double high = rdp ? 1.0
                    : calibrate_noise_multiplier(AccountantKind::kRdp, target_epsilon, delta,
                                                 sample_rate, steps);
  while (epsilon(high) > target_epsilon) {
    high *= 2;
    if (high > kMaxNoise) {
      throw std::domain_error("no noise multiplier up to 1e4 reaches epsilon " +
                              std::to_string(target_epsilon) +
                              " at this delta, sample rate and steps");
    }
  }
  const double shrink = rdp ? 0.5 : 0.8;
  double low = high * shrink;
  // Below kMinNoise the search stops: a σ that small is returned as it is (ε ≤ target still holds).
  while (low > kMinNoise && epsilon(low) <= target_epsilon) {
    high = low;
    low *= shrink;
  }
  // Invariant: ε(high) ≤ target < ε(low).
  while ((high - low) > kNoiseCalibrationTolerance * high) {
    const double middle = 0.5 * (low + high);
    (epsilon(middle) <= target_epsilon ? high : low) = middle;
  }
  return high;
}

int64_t max_steps_within(AccountantKind accountant, double target_epsilon, double delta,
                         double sample_rate, double noise_multiplier, int64_t limit) {
  return max_steps_within(accountant_factory(accountant), target_epsilon, delta, sample_rate,
                          noise_multiplier, limit);
}

int64_t max_steps_within(const AccountantFactory& accountant, double target_epsilon, double delta,
                         double sample_rate, double noise_multiplier, int64_t limit) {
  auto within = [&](int64_t steps) {
    return epsilon_for(accountant, noise_multiplier, sample_rate, steps, delta) <= target_epsilon;
  };
  if (!within(1)) return 0;
  int64_t good = 1, bad = 2;
  while (within(bad)) {
    good = bad;
    if (bad >= limit) return limit;
    bad = std::min(limit, bad * 2);
  }
  while (bad - good > 1) {
    const int64_t middle = good + (bad - good) / 2;
    (within(middle) ? good : bad) = middle;
  }
  return good;
}

}  // namespace dpforge::privacy
