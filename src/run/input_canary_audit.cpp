// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/input_canary_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/mia.h"
#include "dpforge/audit/summary.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/core/error.h"
#include "dpforge/core/random.h"
#include "dpforge/nn/models.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/trainer.h"

namespace dpforge::run {
namespace {

// The canaries' labels and membership come from a generator seeded with the auditor's seed itself,
// the audit run's training seeds from train::auditor_run_seeds (purposes 1-3), and its
// initialization from this purpose's seed.
constexpr uint64_t kInitPurpose = 4;

}  // namespace

InputCanaries make_input_canaries(const data::Dataset& train_set, const data::Dataset& test_set,
                                  int64_t canaries, uint64_t auditor_seed) {
  if (canaries > test_set.size() / 2) {
    throw_input_error(
        "audit.input_canaries = {} needs at most half of the {} test examples (they become the "
        "canaries)",
        canaries, test_set.size());
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(auditor_seed);
  const int64_t first = test_set.size() - canaries;
  const auto images = test_set.inputs.slice(0, first);
  // A wrong label, uniform over the other classes: the model cannot learn it from the data.
  const auto shift = torch::randint(1, test_set.num_classes, {canaries}, generator, torch::kLong);
  const auto flipped = (test_set.labels.slice(0, first) + shift).remainder(test_set.num_classes);
  const auto member = torch::rand({canaries}, generator).lt(0.5);
  const auto member_ids = member.nonzero().squeeze(1);
  return {train_set.with(torch::cat({train_set.inputs, images.index_select(0, member_ids)}),
                         torch::cat({train_set.labels, flipped.index_select(0, member_ids)})),
          test_set.with(images, flipped), member};
}

nlohmann::json judge_input_canaries(const InputCanaries& canaries, torch::nn::Sequential& model,
                                    const AuditRunClaim& claim, double confidence,
                                    double gate_significance) {
  const double delta = claim.delta;
  const auto scores = audit::mia_scores(model, canaries.canaries).loss;
  std::vector<double> in, out;
  const auto* is_member = canaries.member.data_ptr<bool>();
  for (size_t i = 0; i < scores.size(); ++i) (is_member[i] ? in : out).push_back(scores[i]);
  const audit::CanaryAuditor auditor(in, out);
  auto summary = audit::summarize(auditor, confidence, delta);
  summary["method"] =
      "black-box one-run audit: training examples with flipped labels, score = -loss on the "
      "released model";
  summary["canaries"] = canaries.canaries.size();
  summary["accountant_epsilon"] = claim.epsilon;
  summary["epsilon_lower_bound_best"] = audit::best_one_run_bound(summary);
  const auto gate =
      audit::gate_point(delta, canaries.canaries.size(), gate_significance, *claim.steps);
  const auto gates = audit::one_run_gates(auditor, gate_significance, gate);
  summary["verdict"] = {{"tests", gates}};
  summary["roc"] = audit::roc_json(auditor);
  summary["status"] = audit::any_flags(gates) ? "violation" : "pass";
  summary["audits"] =
      "the whole training pipeline end to end, per-layer norms and clipping included";
  return summary;
}

nlohmann::json input_canary_audit(const config::Recipe& recipe, const data::Dataset& train_set,
                                  const data::Dataset& test_set,
                                  const train::BeforeTraining& run_before, int64_t canaries,
                                  uint64_t auditor_seed, double gate_significance,
                                  std::FILE* progress) {
  const auto made = make_input_canaries(train_set, test_set, canaries, auditor_seed);
  if (progress != nullptr) {
    fmt::print(progress,
               "audit: separate training run with {} input canaries ({} members, labels flipped)\n",
               canaries, made.training_set.size() - train_set.size());
  }
  auto recipe_for_audit = recipe;
  recipe_for_audit.audit.enabled(false);
  recipe_for_audit.train.early_stopping_patience(0);
  // The audit run's randomness is the auditor's (its model is never released, so its noise needs
  // no key beyond the auditor's): a seeded audit gives the same numbers every time.
  auto model = nn::make_model(recipe.model, train_set, derive_seed(auditor_seed, kInitPurpose));
  train::PrivacySummary privacy;
  const data::Dataset evaluation =
      data::take_first(test_set, std::min<int64_t>(test_set.size() - canaries, 1000));
  train::train_private(config::private_training_options(recipe_for_audit), model, made.training_set,
                       train::HeldOut{evaluation},
                       train::auditor_run_seeds(auditor_seed, config::secure_noise(recipe)),
                       progress, privacy, nullptr, nullptr,
                       {.planning_size = 0,
                        .gaussian_releases = run_before.gaussian_releases,
                        .release_delta = run_before.release_delta});
  // The audit run's own claim (same recipe), under add/remove: a canary is in the data or not.
  const auto claim = train::steps_claim(
      privacy.plan, *privacy::Accountant::from_json(privacy.accountant_state), privacy.epsilon);
  return judge_input_canaries(made, model,
                              {claim.epsilon, privacy.plan.delta, claim.accountant.get()},
                              recipe.audit.confidence(), gate_significance);
}

}  // namespace dpforge::run
