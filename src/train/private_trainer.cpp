// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <torch/torch.h>

#include "dpforge/core/error.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/dp_optimizer.h"
#include "dpforge/dp/validate.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/progress.h"
#include "dpforge/train/steps.h"
#include "dpforge/train/trainer.h"

namespace dpforge::train {
namespace {

// Keys the canaries' sampling stream apart from the real examples' (same seed, other Philox key).
constexpr uint64_t kCanaryStreamKey = 0x9E3779B97F4A7C15ULL;

// The ledger's allowance: how many steps of (σ, q) fit in the budget (all of them without one).
int64_t allowed_steps(const config::PrivacyOptions& options, double sigma, double q, int64_t planned) {
  if (options.target_epsilon() <= 0) return planned;
  const double planned_epsilon =
      privacy::epsilon_for(options.accountant(), sigma, q, planned, options.delta());
  if (planned_epsilon <= options.target_epsilon()) return planned;
  return privacy::max_steps_within(options.accountant(), options.target_epsilon(), options.delta(),
                                   q, sigma, planned);
}

// Stream position of a sampler as JSON and back.
nlohmann::json stream_position(const data::PoissonSampler& sampler) {
  return {{"block", sampler.stream().block()}, {"word", sampler.stream().word()}};
}
void restore_position(data::PoissonSampler& sampler, const nlohmann::json& position) {
  sampler.restore(position.at("block").get<uint64_t>(), position.at("word").get<int>());
}

}  // namespace

TrainResult train_private(const config::Recipe& recipe, torch::nn::Sequential& model,
                          const data::Dataset& train_set, const HeldOut& held_out,
                          const PrivateSeeds& seeds, std::FILE* progress, PrivacySummary& privacy,
                          audit::DiracCanaries* canaries, RunCheckpoints* checkpoints) {
  dp::validate_model(*model);
  const auto& options = recipe.train;
  const auto& privacy_options = recipe.privacy;
  const int64_t n = train_set.size();
  if (options.batch_size() > n) {
    throw_input_error("train.batch_size = {} exceeds the {} training examples; under DP it is the "
                      "expected batch size q*N, so it must be <= N",
                      options.batch_size(), n);
  }
  const double sample_rate = static_cast<double>(options.batch_size()) / static_cast<double>(n);
  const int64_t steps = privacy::steps_for_epochs(static_cast<double>(options.epochs()), sample_rate);
  const double delta = privacy_options.delta();
  if (progress != nullptr && delta >= 1.0 / static_cast<double>(n)) {
    fmt::print(progress, "warning: privacy.delta = {} >= 1/N = {:.3g}; use delta << 1/N\n", delta,
               1.0 / static_cast<double>(n));
  }
  double sigma = privacy_options.noise_multiplier();
  if (sigma == 0) {
    try {
      sigma = privacy::calibrate_noise_multiplier(privacy_options.accountant(),
                                                  privacy_options.target_epsilon(), delta,
                                                  sample_rate, steps);
    } catch (const std::domain_error& error) {
      throw_input_error("privacy.target_epsilon = {} is unreachable with q = {} over {} steps: {}",
                        privacy_options.target_epsilon(), sample_rate, steps, error.what());
    }
  }
  auto accountant = privacy::make_accountant(privacy_options.accountant());
  // Auditor-validation faults: each breaks one privacy invariant while the accountant is still
  // told the honest (σ, q); the audit must catch them.
  const std::string& fault = privacy_options.fault();
  dp::DpOptimizerOptions dp_options;
  dp_options.clip(dp::ClipOptions()
                      .max_grad_norm(privacy_options.max_grad_norm())
                      .mode(dp::parse_clip_mode(privacy_options.clipping()))
                      .fault_skip_clipping(fault == "no_clip"))
      .noise_multiplier(sigma)
      .sample_rate(sample_rate)
      .expected_batch_size(static_cast<double>(options.batch_size()))
      .fault_noise_scale(fault == "no_noise" ? 0.0 : fault == "half_noise" ? 0.5 : 1.0);
  const auto parameters = model->parameters();
  dp::DpOptimizer optimizer(parameters, make_optimizer(options, parameters), dp_options,
                            dp::NoiseGenerator(seeds.noise, 0, seeds.secure_noise), *accountant);
  const double drawn_rate = fault == "wrong_sample_rate" ? std::min(1.0, 2 * sample_rate) : sample_rate;
  data::PoissonSampler sampler(n, drawn_rate, seeds.sampler);
  // Member canaries are Poisson-sampled by the same code at the same rate, from a stream of their
  // own, so the real examples' batches (and a seeded run's weights) do not depend on the audit.
  const int64_t canary_members = canaries != nullptr ? static_cast<int64_t>(canaries->members().size()) : 0;
  if (canaries != nullptr) optimizer.attach_canaries(*canaries);
  data::PoissonSampler canary_sampler(canary_members, drawn_rate, seeds.sampler ^ kCanaryStreamKey);

  privacy = PrivacySummary{};
  privacy.noise_multiplier = sigma;
  privacy.sample_rate = sample_rate;
  privacy.expected_batch_size = static_cast<double>(options.batch_size());
  privacy.max_grad_norm = privacy_options.max_grad_norm();
  privacy.delta = delta;
  privacy.target_epsilon = privacy_options.target_epsilon();
  privacy.clipping = privacy_options.clipping();
  privacy.accountant = privacy_options.accountant();
  privacy.planned_steps = steps;
  privacy.fault = fault;
  privacy.secure_noise = seeds.secure_noise;
  if (progress != nullptr && fault != "none") {
    fmt::print(progress, "WARNING: privacy.fault = {} injected for auditor validation: this run is NOT private\n", fault);
  }
  if (progress != nullptr) {
    fmt::print(progress, "DP-SGD: q = {:.6g}, sigma = {:.6g}{}, C = {}, {} steps, delta = {}\n",
               sample_rate, sigma,
               privacy_options.noise_multiplier() == 0
                   ? fmt::format(" (calibrated to epsilon {})", privacy_options.target_epsilon())
                   : "",
               privacy_options.max_grad_norm(), steps, delta);
  }

  // σ and q are fixed for the run, so the budget check of every step reduces to a step count
  // computed once from the accountant; the check itself stays in the loop (invariant 6).
  const int64_t allowance = allowed_steps(privacy_options, sigma, sample_rate, steps);
  const int64_t steps_per_epoch = std::max<int64_t>(1, (steps + options.epochs() - 1) / options.epochs());
  ProgressLine line(progress, steps);
  const auto start = std::chrono::steady_clock::now();
  auto epoch_start = start;
  TrainResult result;
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  double seconds_before = 0;  // wall time of the processes before a resume

  // Crash safety: the snapshot holds everything the loop below reads or changes.
  const int64_t interval = checkpoints != nullptr ? checkpoints->interval(steps_per_epoch) : 0;
  auto snapshot = [&]() {
    Snapshot snap;
    auto epochs = nlohmann::json::array();
    for (const auto& m : result.epochs) epochs.push_back(to_json(m));
    snap.state = {{"kind", "private"},
                  {"sampler", stream_position(sampler)},
                  {"canary_sampler", stream_position(canary_sampler)},
                  {"noise_next_block", optimizer.noise().next_block()},
                  {"examples_dropped", optimizer.examples_dropped()},
                  {"examples_seen", optimizer.examples_seen()},
                  {"accountant", accountant->to_json()},
                  {"empty_batches", privacy.empty_batches},
                  {"stopped_by_budget", privacy.stopped_by_budget},
                  {"epochs", epochs},
                  {"loss_sum", loss_sum},
                  {"correct", correct},
                  {"seen", seen},
                  {"seconds", seconds_before + std::chrono::duration<double>(
                                                   std::chrono::steady_clock::now() - start).count()}};
    if (canaries != nullptr) {
      snap.state["canaries"] = canaries->statistics();
      snap.tensors["canary_scores"] = canaries->scores();
    }
    return snap;
  };
  std::optional<PrivacyLedger> ledger;
  int64_t first_step = 0;
  if (checkpoints != nullptr) {
    int64_t reserved = 0;
    if (const auto existing = PrivacyLedger::read(checkpoints->ledger_path)) reserved = existing->at("steps").get<int64_t>();
    ledger.emplace(checkpoints->ledger_path,
                   nlohmann::json{{"accountant", privacy_options.accountant()},
                                  {"noise_multiplier", sigma},
                                  {"sample_rate", sample_rate},
                                  {"delta", delta},
                                  {"target_epsilon", privacy_options.target_epsilon()},
                                  {"planned_steps", steps}},
                   reserved);
    if (checkpoints->resume_from) {
      const auto snap = unpack_snapshot(checkpoints->resume_from->payload, *model, optimizer.inner());
      const auto& state = snap.state;
      TORCH_CHECK(state.at("kind") == "private", "the checkpoint is not of a private run");
      first_step = state.at("step").get<int64_t>();
      restore_position(sampler, state.at("sampler"));
      restore_position(canary_sampler, state.at("canary_sampler"));
      optimizer.restore(dp::NoiseGenerator(seeds.noise, state.at("noise_next_block").get<uint64_t>(), seeds.secure_noise),
                        state.at("examples_dropped").get<int64_t>(), state.at("examples_seen").get<int64_t>());
      const auto saved_accountant = privacy::Accountant::from_json(state.at("accountant"));
      for (const auto& entry : saved_accountant->history()) {
        accountant->compose(entry.noise_multiplier, entry.sample_rate, entry.count);
      }
      privacy.empty_batches = state.at("empty_batches").get<int64_t>();
      privacy.stopped_by_budget = state.at("stopped_by_budget").get<bool>();
      for (const auto& m : state.at("epochs")) result.epochs.push_back(epoch_metrics_from_json(m));
      loss_sum = state.at("loss_sum").get<double>();
      correct = state.at("correct").get<int64_t>();
      seen = state.at("seen").get<int64_t>();
      seconds_before = state.at("seconds").get<double>();
      if (canaries != nullptr) canaries->restore(state.at("canaries"), snap.tensors.at("canary_scores"));
      result.steps = first_step;
      if (progress != nullptr) {
        fmt::print(progress, "resuming from {} (step {} of {}; the ledger holds {} steps)\n",
                   checkpoints->resume_from->path.string(), first_step, steps, ledger->reserved());
      }
    } else {
      checkpoints->save(0, snapshot(), *model, optimizer.inner());
    }
  }

  model->train();
  result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
  for (int64_t step = first_step; step < steps && result.stopped_early.empty(); ++step) {
    // Ledger: a step is taken only if the budget still holds after it (invariant 6).
    if (accountant->steps() >= allowance) {
      privacy.stopped_by_budget = true;
      if (progress != nullptr) {
        fmt::print(progress, "stopping after {} steps: one more would exceed privacy.target_epsilon = {}\n",
                   step, privacy_options.target_epsilon());
      }
      break;
    }
    if (ledger && step >= ledger->reserved()) {
      // Paid before it is spent: commit to the steps up to the next checkpoint, whose snapshot
      // then lets a resumed process replay them instead of drawing new noise.
      const int64_t upto = std::min({allowance, steps, (step / interval + 1) * interval});
      ledger->reserve(upto, privacy::epsilon_for(privacy_options.accountant(), sigma, sample_rate, upto, delta));
    }
    set_lr(optimizer.inner(), scheduled_lr(options, step, steps));
    const auto batch = sampler.next();
    if (batch.empty()) ++privacy.empty_batches;
    if (canaries != nullptr) {
      std::vector<int64_t> canary_ids;
      for (int64_t member : canary_sampler.next()) canary_ids.push_back(canaries->members()[static_cast<size_t>(member)]);
      optimizer.accumulate_canaries(canary_ids);
    }
    const auto indices = torch::tensor(batch, torch::kLong).to(train_set.images.device());
    for (int64_t begin = 0; begin < indices.numel(); begin += options.max_physical_batch()) {
      const auto chunk = indices.slice(0, begin, std::min(indices.numel(), begin + options.max_physical_batch()));
      const auto stats = accumulate_private(model, optimizer, train_set.images.index_select(0, chunk),
                                            train_set.labels.index_select(0, chunk), options.label_smoothing());
      loss_sum += stats.loss_sum;
      correct += stats.correct;
      seen += chunk.numel();
    }
    optimizer.step();
    ++result.steps;
    crash_here_if_requested(result.steps);
    result.diverged = divergence(*model, recipe, result.steps);
    if (!result.diverged.empty()) {
      if (progress != nullptr) fmt::print(progress, "\nstopping: {}\n", result.diverged);
      break;
    }
    line.update(step / steps_per_epoch + 1, options.epochs(), result.steps,
                seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0,
                seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0);
    if (result.steps % steps_per_epoch == 0 || result.steps == steps) {
      const auto now = std::chrono::steady_clock::now();
      result.epochs.push_back(finish_epoch(model, held_out, static_cast<int64_t>(result.epochs.size()) + 1,
                                           result.steps, loss_sum, correct, seen,
                                           std::chrono::duration<double>(now - epoch_start).count()));
      epoch_start = now;
      result.epochs.back().epsilon = accountant->epsilon(delta);
      line.epoch_done(describe_epoch(result.epochs.back(), options.epochs(),
                                     fmt::format("epsilon {:.4f}", *result.epochs.back().epsilon)));
      result.stopped_early = early_stop_reason(result.epochs, options.early_stopping_patience());
      loss_sum = 0;
      correct = 0;
      seen = 0;
    }
    if (checkpoints != nullptr &&
        (result.steps % interval == 0 || result.steps == steps || !result.stopped_early.empty())) {
      checkpoints->save(result.steps, snapshot(), *model, optimizer.inner());
    }
  }
  if (!result.stopped_early.empty() && progress != nullptr) fmt::print(progress, "{}\n", result.stopped_early);
  if (result.epochs.empty() || result.epochs.back().steps != result.steps) {
    // The budget stopped the run mid-epoch: its test metrics still describe the released model.
    result.epochs.push_back(finish_epoch(model, held_out, static_cast<int64_t>(result.epochs.size()) + 1,
                                         result.steps, 0, 0, 0, 0));
    result.epochs.back().epsilon = accountant->epsilon(delta);
  }
  result.test_accuracy = result.epochs.back().test_accuracy;
  result.wall_seconds =
      seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  privacy.steps = accountant->steps();
  privacy.epsilon = accountant->epsilon(delta);
  if (checkpoints != nullptr) {
    if (result.diverged.empty() && result.stopped_early.empty() && result.steps % interval != 0 &&
        result.steps != steps) {
      checkpoints->save(result.steps, snapshot(), *model, optimizer.inner());  // stopped by the budget
    }
    ledger->finish(privacy.steps, privacy.epsilon);
  }
  if (const auto* rdp = dynamic_cast<const privacy::RdpAccountant*>(accountant.get())) {
    privacy.rdp_order = rdp->epsilon_and_order(delta).order;
  }
  privacy.examples_dropped_nonfinite = optimizer.examples_dropped();
  privacy.accountant_state = accountant->to_json();
  return result;
}

}  // namespace dpforge::train
