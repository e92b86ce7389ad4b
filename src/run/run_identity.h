// SPDX-License-Identifier: Apache-2.0
// Who a run is: its seeds (from the OS, or derived from train.seed and the resolved recipe) and
// the recipe it started with. Shared by run.cpp and run_identity.cpp; not a public header.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>

#include "dpforge/config/recipe.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run::detail {

/// The sensitivity check's seed: the auditor's, on a stream of its own.
uint64_t sensitivity_check_seed(uint64_t audit_seed);

// What a run was started with: compared on resume, saved in every checkpoint. Holds the run's
// seeds, so it lives only in the checkpoints (deleted when the run finishes).
struct RunIdentity {
  uint64_t seed = 0;  // model initialization and (non-private) batch order
  uint64_t audit_seed = 0;
  train::PrivateSeeds private_seeds;
  nlohmann::json recipe_values;
  /// The DP statistics' release once made (apply_dp_statistics), so a resumed run reuses it.
  nlohmann::json release = nullptr;

  nlohmann::json to_json() const {
    return {{"seed", seed},
            {"audit_seed", audit_seed},
            {"sampler_seed", private_seeds.sampler},
            {"noise_seed", private_seeds.noise},
            {"secure_noise", private_seeds.secure_noise},
            {"recipe_values", recipe_values},
            {"release", release}};
  }
  static RunIdentity from_json(const nlohmann::json& json) {
    RunIdentity identity;
    identity.seed = json.at("seed").get<uint64_t>();
    identity.audit_seed = json.at("audit_seed").get<uint64_t>();
    identity.private_seeds = {
        json.at("sampler_seed").get<uint64_t>(), json.at("noise_seed").get<uint64_t>(),
        json.at("secure_noise").get<bool>(), sensitivity_check_seed(identity.audit_seed)};
    identity.recipe_values = json.at("recipe_values");
    identity.release = json.value("release", nlohmann::json());
    return identity;
  }
};

/// Independent sampler and noise keys: from the OS CSPRNG unless `reproducible` (then derived
/// from `seed` and `run_key`, the resolved recipe's hash; see run_identity.cpp).
train::PrivateSeeds private_seeds(bool reproducible, uint64_t seed, bool secure, uint64_t run_key);

/// A fresh run's identity for `recipe`.
RunIdentity new_identity(const config::Recipe& recipe, const std::vector<int64_t>& example_shape);

}  // namespace dpforge::run::detail
