// SPDX-License-Identifier: Apache-2.0
// DP-SGD inside the shared training loop: the plan, the ledger written before the steps it pays
// for, the budget check before every step, and the observers (accountant, white-box canaries).
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "dpforge/audit/canary_hook.h"
#include "dpforge/audit/sensitivity_check.h"
#include "dpforge/core/error.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/validate.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/printing.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"
#include "dpforge/train/train_loop.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {
namespace {

nlohmann::json stream_position(const data::PoissonSampler& sampler) {
  return {{"block", sampler.stream().block()}, {"word", sampler.stream().word()}};
}
void restore_position(data::PoissonSampler& sampler, const nlohmann::json& position) {
  sampler.restore(position.at("block").get<uint64_t>(), position.at("word").get<int>());
}

// The member canaries join the population the sampler draws from (audit/canary_hook.h).
int64_t member_canaries(const audit::DiracCanaries* canaries) {
  return canaries != nullptr ? static_cast<int64_t>(canaries->members().size()) : 0;
}

class PrivateStep final : public TrainingStep {
 public:
  // One plan: what the mechanism runs is what the accountant, the ledger and the auditor are told.
  PrivateStep(const PrivateTrainingOptions& options, const dp::DpPlan& plan,
              torch::nn::Sequential& model, const data::Dataset& train_set, const HeldOut& held_out,
              const PrivateSeeds& seeds, PrivacySummary& privacy, audit::DiracCanaries* canaries,
              RunCheckpoints* checkpoints, std::FILE* progress)
      : plan_(plan),
        epochs_(options.train().epochs()),
        model_(model),
        held_out_(held_out),
        seeds_(seeds),
        privacy_(privacy),
        progress_(progress),
        optimizer_(make_optimizer(options.train(), model->parameters())),
        accountant_(plan_accountants(plan)()),
        state_{data::PoissonSampler(plan.dataset_size + member_canaries(canaries), plan.sample_rate,
                                    seeds.sampler),
               dp::NoiseGenerator(seeds.noise, 0, seeds.secure_noise)},
        target_{model, *optimizer_, train_set, task_loss(train_set.task, options.train()),
                options.train().max_physical_batch()},
        accounting_(*accountant_, plan),
        sensitivity_(seeds.sensitivity_check, options.sensitivity_rate()),
        canaries_(canaries) {
    // The plan's accountant has spent the releases before training (DP statistics) already.
    for (const auto& release : plan.preprocessing) releases_ += release.count;
    hooks_.push_back(&accounting_);
    hooks_.push_back(&sensitivity_);
    if (train_set.inputs.device().is_cpu() && at::get_num_threads() > 1 &&
        !nn::has_dropout(*model)) {
      workers_.emplace(at::get_num_threads());
      target_.workers = &*workers_;
    }
    if (canaries != nullptr) {
      canary_hook_.emplace(*canaries, plan, train_set.inputs.device());
      hooks_.push_back(&*canary_hook_);
    }
    if (checkpoints != nullptr) open_ledger(*checkpoints);
  }

  std::string kind() const override { return "private"; }
  dp::StepWorkers* workers() override { return workers_ ? &*workers_ : nullptr; }
  int64_t planned_steps() const override { return plan_.planned_steps; }
  int64_t steps_per_epoch() const override {
    return std::max<int64_t>(1, (plan_.planned_steps + epochs_ - 1) / epochs_);
  }
  torch::optim::Optimizer& optimizer() override { return *optimizer_; }

  std::optional<dp::BatchStats> take(int64_t step) override {
    // Ledger: a step is taken only if the budget still holds after it (invariant 6).
    if (training_steps() >= plan_.allowed_steps) {
      privacy_.stopped_by_budget = true;
      if (progress_ != nullptr) {
        fmt::print(progress_,
                   "stopping after {} steps: one more would exceed privacy.target_epsilon = {}\n",
                   step, plan_.target_epsilon);
      }
      return std::nullopt;
    }
    if (ledger_ && step >= ledger_->reserved()) {
      // Paid before it is spent: commit to the steps up to the next checkpoint, whose snapshot
      // then lets a resumed process replay them instead of drawing new noise. Checkpoints by time
      // fall at steps not known in advance, so the commitment then at least doubles the steps
      // taken: O(log T) accountant calls (a PLD call costs tens of milliseconds, a small table's
      // step microseconds), and a crashed run's ledger at most twice what it spent.
      const int64_t next = (step / ledger_interval_ + 1) * ledger_interval_;
      const int64_t upto = std::min({plan_.allowed_steps, plan_.planned_steps,
                                     ledger_doubles_ ? std::max(next, 2 * step) : next});
      const double committed = plan_epsilon(plan_, upto);
      ledger_->reserve(upto, committed);
      progress_epsilon_ = committed;
      progress_epsilon_step_ = upto;
    }
    const auto stats = dp::dp_sgd_step(plan_, state_, target_, hooks_);
    if (stats.examples == 0) ++empty_batches_;
    return stats;
  }

  // The accountant's own ε, refreshed where it is computed anyway: the ledger's commitment before
  // each block of steps (by its last step, so an upper bound on what is spent until then) and the
  // end of each epoch. Asking it every step would cost a composition per step.
  std::string progress_note() const override {
    if (progress_epsilon_step_ < 0) return "";
    return fmt::format("eps {} by step {} ({})", privacy::upper_fixed(progress_epsilon_, 3),
                       progress_epsilon_step_, privacy::to_string(plan_.accountant));
  }

  std::string end_epoch(EpochMetrics& metrics) override {
    metrics.epsilon = accountant_->epsilon(plan_.accountant_delta());
    if (training_steps() >= progress_epsilon_step_) {
      progress_epsilon_ = *metrics.epsilon;
      progress_epsilon_step_ = training_steps();
    }
    return "epsilon " + privacy::upper_fixed(*metrics.epsilon, 4);
  }

  void save(Snapshot& snapshot) const override {
    auto& state = snapshot.state;
    state["sampler"] = stream_position(state_.sampler);
    state["noise_next_block"] = state_.noise.next_block();
    state["examples_dropped"] = state_.examples_dropped;
    state["accountant"] = accountant_->to_json();
    state["empty_batches"] = empty_batches_;
    state["stopped_by_budget"] = privacy_.stopped_by_budget;
    state["sensitivity_check"] = sensitivity_.to_json();
    if (canaries_ != nullptr) {
      state["canaries"] = canaries_->statistics();
      snapshot.tensors["canary_scores"] = canaries_->scores();
    }
  }

  void restore(const Snapshot& snapshot) override {
    const auto& state = snapshot.state;
    restore_position(state_.sampler, state.at("sampler"));
    state_.noise = dp::NoiseGenerator(seeds_.noise, state.at("noise_next_block").get<uint64_t>(),
                                      seeds_.secure_noise);
    state_.examples_dropped = state.at("examples_dropped").get<int64_t>();
    // The releases before training are composed already (constructor); the checkpoint says how
    // many steps followed them, and the step's own hook records them (nothing else tells it).
    accounting_.resume_after(
        plan_steps_composed(plan_, *privacy::Accountant::from_json(state.at("accountant"))));
    empty_batches_ = state.at("empty_batches").get<int64_t>();
    privacy_.stopped_by_budget = state.at("stopped_by_budget").get<bool>();
    sensitivity_.restore(state.at("sensitivity_check"));
    if (canaries_ != nullptr) {
      canaries_->restore(state.at("canaries"), snapshot.tensors.at("canary_scores"));
    }
  }

  std::string resume_note() const override {
    return ledger_ ? fmt::format("; the ledger holds {} steps", ledger_->reserved()) : "";
  }

  void finish(TrainResult& result) override {
    if (result.epochs.empty() || result.epochs.back().steps != result.steps) {
      // The budget stopped the run mid-epoch: its test metrics still describe the released model.
      result.epochs.push_back(finish_epoch(model_, held_out_,
                                           static_cast<int64_t>(result.epochs.size()) + 1,
                                           result.steps, 0, 0, 0, 0));
      result.epochs.back().epsilon = accountant_->epsilon(plan_.accountant_delta());
    }
    privacy_.steps = training_steps();
    privacy_.epsilon = accountant_->epsilon(plan_.accountant_delta());
    if (const auto* rdp = dynamic_cast<const privacy::RdpAccountant*>(accountant_.get())) {
      privacy_.rdp_order = rdp->epsilon_and_order(plan_.accountant_delta()).order;
    }
    privacy_.accountant_state = accountant_->to_json();
    privacy_.sensitivity_check = sensitivity_.to_json();
    result.diagnostics = {empty_batches_, state_.examples_dropped};
  }

  void close(const TrainResult& /*result*/) override {
    if (ledger_) ledger_->finish(privacy_.steps, privacy_.epsilon);
  }

 private:
  void open_ledger(const RunCheckpoints& checkpoints) {
    // The commitments include what was released before the first step (sampling rate 1), and are
    // taken at the accountant's δ: the header says both, so the ledger alone explains its ε.
    std::vector<double> releases;
    for (const auto& release : plan_.preprocessing) releases.push_back(release.noise_multiplier);
    int64_t reserved = 0;
    const auto existing = PrivacyLedger::read(checkpoints.ledger_path);
    if (existing) {
      reserved = existing->at("steps").get<int64_t>();
      progress_epsilon_ = existing->at("epsilon").get<double>();  // a resumed run's commitment
      progress_epsilon_step_ = reserved;
    }
    ledger_.emplace(checkpoints.ledger_path,
                    nlohmann::json{{"accountant", privacy::to_string(plan_.accountant)},
                                   {"noise_multiplier", plan_.noise_multiplier},
                                   {"sample_rate", plan_.sample_rate},
                                   {"delta", plan_.delta},
                                   {"preprocessing_noise_multipliers", releases},
                                   {"preprocessing_delta", plan_.preprocessing_delta},
                                   {"support_delta", plan_.support_delta},
                                   {"target_epsilon", plan_.target_epsilon},
                                   {"planned_steps", plan_.planned_steps}},
                    reserved);
    if (existing) ledger_->check_continues(*existing);
    ledger_interval_ = checkpoints.interval(steps_per_epoch());
    ledger_doubles_ = checkpoints.every == 0;
  }

  const dp::DpPlan plan_;
  const int64_t epochs_;
  torch::nn::Sequential& model_;
  const HeldOut& held_out_;
  const PrivateSeeds seeds_;
  PrivacySummary& privacy_;
  std::FILE* progress_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<privacy::Accountant> accountant_;
  // Steps of DP-SGD taken: the accountant's steps less the releases composed before training.
  int64_t training_steps() const { return accountant_->steps() - releases_; }

  int64_t releases_ = 0;
  dp::DpSgdState state_;
  dp::DpSgdTarget target_;
  dp::AccountantHook accounting_;
  audit::SensitivityCheck sensitivity_;
  audit::DiracCanaries* canaries_;
  std::optional<audit::CanaryHook> canary_hook_;
  std::vector<dp::StepHook*> hooks_;
  std::optional<PrivacyLedger> ledger_;
  // The step's threads (dp/step_workers.h); none on a GPU, with one thread, or with dropout, whose
  // draws from the global generator would then depend on which worker came first.
  std::optional<dp::StepWorkers> workers_;
  int64_t ledger_interval_ = 1;
  bool ledger_doubles_ = false;  // checkpoints by time: commitments double (see take)
  int64_t empty_batches_ = 0;
  double progress_epsilon_ = 0;         // for progress_note: ε by step …
  int64_t progress_epsilon_step_ = -1;  // … this one (-1: none computed yet)
};

}  // namespace

TrainResult train_private(const PrivateTrainingOptions& options, torch::nn::Sequential& model,
                          const data::Dataset& train_set, const HeldOut& held_out,
                          const PrivateSeeds& seeds, std::FILE* progress, PrivacySummary& privacy,
                          audit::DiracCanaries* canaries, RunCheckpoints* checkpoints,
                          const BeforeTraining& before) {
  nn::validate_model(*model);
  if (train_set.size() >= 2) {
    nn::check_examples_independent(
        model, train_set.inputs.slice(0, 0, std::min<int64_t>(64, train_set.size())));
  }
  const dp::DpPlan plan = make_dp_plan(
      options.train(), options.privacy(),
      {.dataset_size = train_set.size(),
       .planning_size = before.planning_size > 0 ? before.planning_size : train_set.size(),
       .parameters = nn::count_parameters(*model),
       .canaries = canaries != nullptr ? canaries->count() : 0,
       .gaussian_releases = before.gaussian_releases,
       .release_delta = before.release_delta});
  privacy = PrivacySummary{};
  privacy.plan = plan;
  privacy.secure_noise = seeds.secure_noise;
  if (progress != nullptr) fmt::print(progress, "{}\n", describe(plan));
  PrivateStep step(options, plan, model, train_set, held_out, seeds, privacy, canaries, checkpoints,
                   progress);
  return run_train_loop(options.train(), step, model, held_out, progress, checkpoints);
}

}  // namespace dpforge::train
