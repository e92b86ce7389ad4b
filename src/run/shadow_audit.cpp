// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/shadow_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/shadow_attacks.h"
#include "dpforge/audit/summary.h"
#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/dp/step_workers.h"
#include "dpforge/nn/models.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run {
namespace {

constexpr int64_t kMaxTargetsPerSide = 2500;
constexpr int64_t kMaxPopulation = 1000;
// Shadows are evaluated after every epoch by the trainer; a small test slice keeps that cheap.
constexpr int64_t kShadowEvalExamples = 200;

data::Dataset select(const data::Dataset& dataset, const torch::Tensor& indices) {
  return data::take(dataset, indices);
}

data::Dataset concat(const data::Dataset& a, const data::Dataset& b) {
  return a.with(torch::cat({a.inputs, b.inputs}), torch::cat({a.labels, b.labels}));
}

// What shadow k trains on: which targets (in) and which half of the other training examples.
struct ShadowDraw {
  torch::Tensor in, half;
  uint64_t seed;
};

// Shadows train one per thread at once when there are at least two threads and shadows, each on
// one intra-op thread (a private one then has no step workers of its own: dp/step_workers.h),
// except with dropout, whose draws from the one global generator would follow the threads' timing.
int64_t shadows_at_once(const torch::nn::Module& model, int64_t shadow_models) {
  if (nn::has_dropout(model)) return 1;
  return std::clamp<int64_t>(at::get_num_threads(), 1, shadow_models);
}

// One line per shadow started and finished, from whichever thread trains it; the time left from
// the shadows' mean duration, at_once at a time.
class ShadowProgress {
 public:
  ShadowProgress(std::FILE* out, int64_t shadows, int64_t at_once)
      : out_(out), shadows_(shadows), at_once_(at_once), starts_(shadows) {}
  void started(int64_t k, int64_t examples, int64_t members, int64_t targets) {
    const std::lock_guard lock(mutex_);
    starts_[k] = Clock::now();
    if (out_ == nullptr) return;
    fmt::print(out_,
               "attack: shadow model {}/{} for LiRA and RMIA, {} examples ({} of the {} "
               "targets) ...\n",
               k + 1, shadows_, examples, members, targets);
  }
  void finished(int64_t k) {
    const std::lock_guard lock(mutex_);
    ++done_;
    seconds_ += std::chrono::duration<double>(Clock::now() - starts_[k]).count();
    if (out_ == nullptr) return;
    const double mean = seconds_ / static_cast<double>(done_);
    fmt::print(out_,
               "attack: shadow model {}/{} done ({} of {}, {:.1f}s each); about {:.0f}s left\n",
               k + 1, shadows_, done_, shadows_, mean,
               mean * static_cast<double>(shadows_ - done_) / static_cast<double>(at_once_));
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  const int64_t shadows_, at_once_;
  int64_t done_ = 0;
  double seconds_ = 0;
  std::vector<Clock::time_point> starts_;
  std::mutex mutex_;
};

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
                                   const data::Dataset& evaluation,
                                   const train::BeforeTraining& before, uint64_t shadow_seed) {
  auto shadow = nn::make_model(recipe.model, shadow_data, shadow_seed);
  const train::HeldOut held_out{evaluation};
  if (recipe.privacy.enabled()) {
    train::PrivacySummary ignored;
    train::train_private(config::private_training_options(shadow_recipe), shadow, shadow_data,
                         held_out,
                         train::auditor_run_seeds(shadow_seed, config::secure_noise(recipe)),
                         nullptr, ignored, nullptr, nullptr, before);
  } else {
    train::train_nonprivate(shadow_recipe.train, shadow, shadow_data, held_out, shadow_seed,
                            nullptr);
  }
  return shadow;
}

}  // namespace

nlohmann::json shadow_membership_attacks(const config::Recipe& recipe, torch::nn::Sequential& model,
                                         const data::Dataset& train_set,
                                         const data::Dataset& test_set,
                                         const train::BeforeTraining& run_before,
                                         int64_t shadow_models, uint64_t auditor_seed,
                                         std::FILE* progress) {
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

  const train::BeforeTraining shadow_before{.planning_size = 0,
                                            .gaussian_releases = run_before.gaussian_releases,
                                            .release_delta = run_before.release_delta};
  auto shadow_recipe = recipe;
  shadow_recipe.audit.enabled(false);
  shadow_recipe.train.early_stopping_patience(0);  // shadows have no validation set
  const int64_t targets_count = 2 * per_side;
  auto shadow_phi = torch::zeros({shadow_models, targets_count}, torch::kFloat64);
  auto shadow_probability = torch::zeros_like(shadow_phi);
  auto population_probability = torch::zeros({shadow_models, population}, torch::kFloat64);
  auto shadow_in = torch::zeros({shadow_models, targets_count}, torch::kBool);
  // Each shadow's draws first, in order from the auditor's generator: the shadows are the same
  // however many train at once. (Indices only: K copies of the data could be gigabytes.)
  std::vector<ShadowDraw> draws;
  for (int64_t k = 0; k < shadow_models; ++k) {
    const auto in = torch::rand({targets_count}, generator).lt(0.5);
    const auto half =
        torch::randperm(others.size(), generator, torch::kLong).slice(0, 0, others.size() / 2);
    draws.push_back({in, half, derive_seed(auditor_seed, static_cast<uint64_t>(k))});
  }
  const int64_t at_once = shadows_at_once(*model, shadow_models);
  ShadowProgress shadow_progress(progress, shadow_models, at_once);
  const auto train_one = [&](int64_t k) {
    const auto& draw = draws[static_cast<size_t>(k)];
    const auto shadow_data =
        concat(select(targets, draw.in.nonzero().squeeze(1)), select(others, draw.half));
    shadow_progress.started(k, shadow_data.size(), draw.in.sum().item<int64_t>(), targets_count);
    auto shadow =
        train_shadow(recipe, shadow_recipe, shadow_data, shadow_eval, shadow_before, draw.seed);
    const auto on_targets = audit::confidence_signals(shadow, targets);
    shadow_phi[k] = on_targets.phi;
    shadow_probability[k] = on_targets.probability;
    population_probability[k] = audit::confidence_signals(shadow, population_set).probability;
    shadow_in[k] = draw.in;
    shadow_progress.finished(k);
  };
  if (at_once > 1) {
    dp::StepWorkers workers(at_once);  // one intra-op thread each
    workers.for_each(shadow_models, train_one);
  } else {
    for (int64_t k = 0; k < shadow_models; ++k) train_one(k);
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

}  // namespace dpforge::run
