// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/shadow_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/shadow_attacks.h"
#include "dpforge/audit/summary.h"
#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/nn/models.h"
#include "dpforge/train/progress.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {
namespace {

constexpr int64_t kMaxTargetsPerSide = 2500;
constexpr int64_t kMaxPopulation = 1000;
// Shadows are evaluated after every epoch by the trainer; a small test slice keeps that cheap.
constexpr int64_t kShadowEvalExamples = 200;
// Purposes of the seeds derived from one shadow's seed (core/random.h derive_seed).
constexpr uint64_t kSamplerPurpose = 1;
constexpr uint64_t kNoisePurpose = 2;

data::Dataset select(const data::Dataset& dataset, const torch::Tensor& indices) {
  return data::take(dataset, indices);
}

data::Dataset concat(const data::Dataset& a, const data::Dataset& b) {
  return a.with(torch::cat({a.inputs, b.inputs}), torch::cat({a.labels, b.labels}));
}

nlohmann::json attack_metrics(const std::vector<double>& scores, int64_t members) {
  const std::vector<double> in(scores.begin(), scores.begin() + members),
      out(scores.begin() + members, scores.end());
  return audit::attack_metrics(audit::CanaryAuditor(in, out));
}

// One shadow model: the recipe's model trained by the recipe (privately if it is private) on
// `shadow_data`. Its seeds come from the auditor's seed, so a seeded audit (audit.seed, or a
// seeded run) gives the same shadows and the same attack numbers every time; an unseeded audit's
// auditor seed is itself from the OS. The shadows are never released, so their noise needs no
// secret key beyond the auditor's.
torch::nn::Sequential train_shadow(const config::Recipe& recipe,
                                   const config::Recipe& shadow_recipe,
                                   const data::Dataset& shadow_data,
                                   const data::Dataset& evaluation, uint64_t shadow_seed) {
  auto shadow = nn::make_model(recipe.model, shadow_data);
  const HeldOut held_out{evaluation};
  if (recipe.privacy.enabled()) {
    PrivacySummary ignored;
    train_private(
        shadow_recipe, shadow, shadow_data, held_out,
        PrivateSeeds{derive_seed(shadow_seed, kSamplerPurpose),
                     derive_seed(shadow_seed, kNoisePurpose), config::secure_noise(recipe)},
        nullptr, ignored);
  } else {
    train_nonprivate(shadow_recipe, shadow, shadow_data, held_out, shadow_seed, nullptr);
  }
  return shadow;
}

}  // namespace

nlohmann::json shadow_membership_attacks(const config::Recipe& recipe, torch::nn::Sequential& model,
                                         const data::Dataset& train_set,
                                         const data::Dataset& test_set, int64_t shadow_models,
                                         uint64_t auditor_seed, std::FILE* progress) {
  if (shadow_models < 1)
    throw_input_error("audit.shadow_models = {}: the shadow attacks need at least 1",
                      shadow_models);
  const int64_t per_side =
      std::min({kMaxTargetsPerSide, train_set.size() / 2, test_set.size() / 3});
  const int64_t population = std::min(kMaxPopulation, test_set.size() - per_side);
  if (per_side < 10 || population < 10) {
    throw_input_error(
        "shadow attacks need at least 20 training and 30 test examples (have {} and {})",
        train_set.size(), test_set.size());
  }
  // The auditor's own generator chooses targets, population and every shadow's data.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(auditor_seed);
  const auto train_order = torch::randperm(train_set.size(), generator, torch::kLong);
  const auto test_order = torch::randperm(test_set.size(), generator, torch::kLong);
  const auto targets = concat(select(train_set, train_order.slice(0, 0, per_side)),
                              select(test_set, test_order.slice(0, 0, per_side)));
  const auto population_set =
      select(test_set, test_order.slice(0, per_side, per_side + population));
  const auto others = select(train_set, train_order.slice(0, per_side));
  const auto shadow_eval = select(
      test_set,
      test_order.slice(0, per_side + population,
                       std::min(test_set.size(), per_side + population + kShadowEvalExamples)));

  auto shadow_recipe = recipe;
  shadow_recipe.audit.enabled(false);
  shadow_recipe.train.early_stopping_patience(0);  // shadows have no validation set
  const int64_t targets_count = 2 * per_side;
  auto shadow_phi = torch::zeros({shadow_models, targets_count}, torch::kFloat64);
  auto shadow_probability = torch::zeros_like(shadow_phi);
  auto population_probability = torch::zeros({shadow_models, population}, torch::kFloat64);
  auto shadow_in = torch::zeros({shadow_models, targets_count}, torch::kBool);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int64_t k = 0; k < shadow_models; ++k) {
    const auto in = torch::rand({targets_count}, generator).lt(0.5);
    const auto half =
        torch::randperm(others.size(), generator, torch::kLong).slice(0, 0, others.size() / 2);
    const auto shadow_data = concat(select(targets, in.nonzero().squeeze(1)), select(others, half));
    train::Phase phase(
        progress, fmt::format("attack: shadow model {}/{} for LiRA and RMIA, {} examples ({} "
                              "of the {} targets)",
                              k + 1, shadow_models, shadow_data.size(), in.sum().item<int64_t>(),
                              targets_count));
    // Model initialization draws from torch's global generator; seed it too so a seeded audit
    // repeats whatever ran before it.
    const uint64_t shadow_seed = derive_seed(auditor_seed, static_cast<uint64_t>(k));
    torch::manual_seed(shadow_seed);
    auto shadow = train_shadow(recipe, shadow_recipe, shadow_data, shadow_eval, shadow_seed);
    const auto on_targets = audit::confidence_signals(shadow, targets);
    shadow_phi[k] = on_targets.phi;
    shadow_probability[k] = on_targets.probability;
    population_probability[k] = audit::confidence_signals(shadow, population_set).probability;
    shadow_in[k] = in;
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    phase.done(fmt::format(
        "about {:.0f}s left for the other {}",
        seconds / static_cast<double>(k + 1) * static_cast<double>(shadow_models - k - 1),
        shadow_models - k - 1));
  }
  const auto on_targets = audit::confidence_signals(model, targets);
  const audit::ShadowSignals signals{on_targets.phi, on_targets.probability, shadow_phi,
                                     shadow_probability, shadow_in};
  const auto on_population = audit::confidence_signals(model, population_set).probability;
  return {{"shadow_setup",
           {{"shadow_models", shadow_models},
            {"members", per_side},
            {"non_members", per_side},
            {"population", population},
            {"note",
             "LiRA and RMIA: shadow models trained by the same recipe on random halves, targets "
             "drawn by the auditor; attack metrics, not a DP bound"}}},
          {"lira_online", attack_metrics(audit::lira_online_scores(signals, false), per_side)},
          {"lira_online_fixed_variance",
           attack_metrics(audit::lira_online_scores(signals, true), per_side)},
          {"lira_offline", attack_metrics(audit::lira_offline_scores(signals, false), per_side)},
          {"lira_offline_fixed_variance",
           attack_metrics(audit::lira_offline_scores(signals, true), per_side)},
          {"rmia_offline", attack_metrics(audit::rmia_offline_scores(signals, on_population,
                                                                     population_probability),
                                          per_side)}};
}

}  // namespace dpforge::train
