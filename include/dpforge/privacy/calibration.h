// SPDX-License-Identifier: Apache-2.0
// Inverting an accountant: the noise for a target ε, the steps a budget allows. ε is antitone in
// the noise multiplier and monotone in steps, so bisection converges to the exact root; results are
// always on the private side of it (ε(result) ≤ target).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dpforge/privacy/accountant.h"

namespace dpforge::privacy {

/// The one definition of steps used everywhere (trainer, CLI): ceil(epochs / q) = ceil(epochs·N /
/// expected batch). Rounding up means the reported ε covers at least the requested epochs.
int64_t steps_for_epochs(double epochs, double sample_rate);

/// Makes a fresh accountant (to evaluate ε for trial parameters without touching a real one).
using AccountantFactory = std::function<std::unique_ptr<Accountant>()>;
AccountantFactory accountant_factory(AccountantKind kind);
/// Accountants that have already composed `releases` (mechanisms run before the steps being
/// calibrated or counted, e.g. DP statistics of the training data): every ε, σ and step count
/// computed through the factory includes them.
AccountantFactory accountant_factory(AccountantKind kind, std::vector<SgmSteps> releases,
                                     Adjacency adjacency = Adjacency::kAddRemove);

/// ε after `steps` steps of (σ, q) under the named accountant.
double epsilon_for(const AccountantFactory& accountant, double noise_multiplier, double sample_rate,
                   int64_t steps, double delta);
double epsilon_for(AccountantKind accountant, double noise_multiplier, double sample_rate,
                   int64_t steps, double delta);

/// Relative width of the final bisection bracket on σ.
inline constexpr double kNoiseCalibrationTolerance = 1e-5;

/// Smallest σ (within kNoiseCalibrationTolerance, rounded up) with ε(σ) ≤ target_epsilon.
/// Throws std::domain_error if no σ ≤ 1e4 reaches the target.
double calibrate_noise_multiplier(const AccountantFactory& accountant, double target_epsilon,
                                  double delta, double sample_rate, int64_t steps);
double calibrate_noise_multiplier(AccountantKind accountant, double target_epsilon, double delta,
                                  double sample_rate, int64_t steps);

/// Largest number of steps with ε ≤ target_epsilon (0 if even one step exceeds it).
int64_t max_steps_within(AccountantKind accountant, double target_epsilon, double delta,
                         double sample_rate, double noise_multiplier, int64_t limit = 100'000'000);
int64_t max_steps_within(const AccountantFactory& accountant, double target_epsilon, double delta,
                         double sample_rate, double noise_multiplier, int64_t limit = 100'000'000);

}  // namespace dpforge::privacy
