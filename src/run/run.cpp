// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/run.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <optional>

#include "dpforge/audit/mia.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/core/cpus.h"
#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/core/random.h"
#include "dpforge/dp/device.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/nn/trainable.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/printing.h"
#include "dpforge/report/run_report.h"
#include "dpforge/run/input_canary_audit.h"
#include "dpforge/run/model_file.h"
#include "dpforge/run/run_folder.h"
#include "dpforge/run/shadow_audit.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/progress.h"
#include "dpforge/train/run_audit.h"
#include "src/run/run_identity.h"

namespace dpforge::run {
namespace {

using detail::new_identity;
using detail::private_seeds;
using detail::RunIdentity;

// Dirac canaries are 10·C before clipping, so that skipped clipping cannot go unnoticed.
constexpr double kCanaryPreClipMultiple = 10.0;
// Fashion-MNIST's whole test split: 10,000 non-members are what a TPR at 0.1% FPR needs to be
// resolved (audit::kResolvableFalsePositives).
constexpr int64_t kMiaExamples = 10000;
// Keys the shadow attacks' draws apart from the canaries' (same auditor seed, other stream).
constexpr uint64_t kShadowStreamKey = 0xD1B54A32D192ED03ULL;
constexpr uint64_t kInputCanaryStreamKey = 0x8CB92BA72F3D8DD7ULL;
constexpr uint64_t kDpStatisticsStreamKey = 0x3C79AC492BA7B653ULL;
constexpr uint64_t kDatasetSizeStreamKey = 0x8E2F5B4C1D3A6907ULL;

std::string origin_of(const config::Recipe& recipe) {
  return recipe.path.empty() ? "command line" : recipe.path;
}

// Where the training loop runs (run.device). Refused here, before anything is written, when the
// recipe asks for CUDA this build or machine cannot give.
torch::Device training_device(const config::Recipe& recipe) {
  const auto wanted = recipe.run.device();
  const bool gpu = torch::cuda::is_available();
  const bool kernels = dp::cuda_kernels_available();
  if (wanted == config::Device::kCpu || (wanted == config::Device::kAuto && !(gpu && kernels)))
    return torch::kCPU;
  if (!gpu) {
    throw_input_error(
        "{}: run.device = 'cuda' is not usable: LibTorch sees no CUDA device (this build's "
        "LibTorch "
        "is CPU-only, or the machine has no GPU); allowed values: auto, cpu, cuda; set run.device "
        "= cpu or auto",
        origin_of(recipe));
  }
  if (!kernels) {
    throw_input_error(
        "{}: run.device = 'cuda': this dpforge was built without its CUDA kernels (no nvcc at "
        "build "
        "time); rebuild with scripts/build_cuda.sh, or set run.device = cpu",
        origin_of(recipe));
  }
  return torch::Device(torch::kCUDA, 0);
}

// The training set's size as a private run may show it: the size its mechanism is planned with
// (public, or "~N̂ (DP count)"); the exact count otherwise.
std::string train_size_text(const config::Recipe& recipe, const RunData& data) {
  if (!recipe.privacy.enabled()) return std::to_string(data.train.size());
  return report::planned_size_text(data.planning_size, data.size_release.has_value());
}

data::Dataset on_device(const data::Dataset& dataset, const torch::Device& device) {
  if (device.is_cpu()) return dataset;
  return dataset.with(dataset.inputs.to(device), dataset.labels.to(device));
}

// Refuses a folder that holds another run before anything is written, saying what it holds and
// the one command that helps. A folder where a start-up was cut short holds nothing to keep.
void prepare_out_dir(const std::filesystem::path& out_dir, bool resume) {
  const auto state = folder_state(out_dir);
  if (state == FolderState::kFinished) {
    throw_input_error(
        "{} {}: holds a finished run (report.json){}; see it with `dpforge report {}`{}",
        resume ? "--resume" : "--out", out_dir.string(),
        resume ? ", so there is nothing to resume" : "", out_dir.string(),
        resume ? "" : ", or choose another --out folder for a new run");
  }
  if (!resume && state == FolderState::kUnfinished) {
    throw_input_error(
        "--out {}: holds an unfinished run (checkpoints/, privacy_ledger.json); continue it with "
        "`dpforge train --resume {}`, or choose another --out folder for a new run",
        out_dir.string(), out_dir.string());
  }
  if (resume && state == FolderState::kAbsent) {
    throw_input_error("--resume {}: no such folder", out_dir.string());
  }
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    throw_input_error("--out {}: cannot create the output folder ({})", out_dir.string(),
                      error.message());
  }
  // Fail now, not after hours of training, when the folder cannot be written.
  write_file_atomic(out_dir / ".dpforge-write-test", "");
  std::filesystem::remove(out_dir / ".dpforge-write-test");
}

// The identity of a run that continues from its newest intact checkpoint, whose recipe must match
// the one it started with. nullopt when there is no checkpoint and no ledger: the run stopped
// before its first step, spent nothing, and starts again from the beginning.
std::optional<RunIdentity> resumed_identity(const config::Recipe& recipe,
                                            train::RunCheckpoints& checkpoints,
                                            const std::filesystem::path& out_dir,
                                            std::FILE* progress) {
  const auto current = report::recipe_values_json(recipe);
  checkpoints.resume_from = checkpoints.store.load_latest(progress);
  if (!checkpoints.resume_from) {
    const auto ledger = train::PrivacyLedger::read(checkpoints.ledger_path);
    if (ledger) {
      throw_input_error(
          "--resume {}: no intact checkpoint in {} (its ledger records {} steps, epsilon {}, "
          "as spent); the run cannot continue, start a new one in another folder",
          out_dir.string(), checkpoints.store.dir().string(), ledger->at("steps").get<int64_t>(),
          privacy::upper_significant(ledger->at("epsilon").get<double>(), 4));
    }
    if (const auto stored = stored_recipe_values(out_dir))
      check_resume_recipe(out_dir, *stored, current);
    if (progress != nullptr) {
      fmt::print(progress,
                 "{}: no intact checkpoint and no privacy ledger, so no private step was taken; "
                 "starting it from the beginning\n",
                 out_dir.string());
    }
    return std::nullopt;
  }
  auto identity = RunIdentity::from_json(
      train::peek_snapshot_state(checkpoints.resume_from->payload).at("identity"));
  check_resume_recipe(out_dir, identity.recipe_values, current);
  return identity;
}

// Everything fixed before training starts. The training loop reads batches from device-resident
// copies (no host-to-device copy per step); audits after training use the CPU originals.
struct RunSetup {
  RunData data, on_device;
  torch::Device device;
  train::RunCheckpoints checkpoints;
  RunIdentity identity;
  bool resumed = false;  // continues from a checkpoint
  core::ThreadChoice threads;
};

RunSetup set_up(const config::Recipe& recipe, const std::filesystem::path& out_dir,
                std::FILE* progress, bool resume, int64_t concurrent_runs) {
  // Everything that can fail on bad input happens before the output folder is touched.
  auto data = load_run_data(recipe);
  const torch::Device device = training_device(recipe);
  prepare_out_dir(out_dir, resume);
  // Threads for the CPUs this process may use, not the machine's core count (core/cpus.h).
  const auto threads = core::choose_threads(recipe.run.threads(), concurrent_runs);
  torch::set_num_threads(static_cast<int>(threads.count));
  RunSetup setup{std::move(data), {}, device, train::RunCheckpoints(out_dir), {}};
  setup.threads = threads;
  setup.checkpoints.every = recipe.train.checkpoint_every();
  setup.checkpoints.seconds = recipe.train.checkpoint_seconds();
  auto resumed =
      resume ? resumed_identity(recipe, setup.checkpoints, out_dir, progress) : std::nullopt;
  setup.resumed = resumed.has_value();
  setup.identity =
      resumed ? std::move(*resumed) : new_identity(recipe, setup.data.train.example_shape());
  // DP statistics of the training split, noised from a key of the run's noise seed; a resumed run
  // reuses the release its checkpoints recorded (refusing changed data), never making a second.
  const uint64_t noise = setup.identity.private_seeds.noise;
  apply_dp_statistics(recipe, setup.data, derive_seed(noise, kDpStatisticsStreamKey),
                      setup.identity.release);
  // The size the mechanism plans with: public, or a DP count recorded beside those releases.
  plan_dataset_size(recipe, setup.data, derive_seed(noise, kDatasetSizeStreamKey),
                    setup.identity.release);
  setup.checkpoints.identity = setup.identity.to_json();
  auto& data_now = setup.data;
  setup.on_device = RunData{};
  setup.on_device.train = on_device(data_now.train, device);
  setup.on_device.test = on_device(data_now.test, device);
  setup.on_device.validation = on_device(data_now.validation, device);
  setup.on_device.notes = data_now.notes;
  if (!setup.resumed) {
    // What `train --resume DIR` alone continues, and what a sweep compares its points against. A
    // cut-short start-up's leftovers (a checkpoint write never completed) go first.
    setup.checkpoints.store.remove_all();
    write_file_atomic(out_dir / kStoredRecipe, config::to_ini(recipe));
  }
  return setup;
}

// Trains the released model; under DP with a separate audit run (audit.inline = false), that run
// too.
train::TrainResult train_released(const config::Recipe& recipe, RunSetup& setup,
                                  torch::nn::Sequential& model, train::PrivacySummary& privacy,
                                  audit::DiracCanaries* canaries, std::FILE* progress) {
  const auto& copies = setup.on_device;
  const train::HeldOut held_out{copies.test,
                                copies.validation.size() > 0 ? &copies.validation : nullptr};
  if (!recipe.privacy.enabled()) {
    return train::train_nonprivate(recipe.train, model, copies.train, held_out, setup.identity.seed,
                                   progress, &setup.checkpoints);
  }
  const bool inline_audit = canaries != nullptr && recipe.audit.inline_run();
  const auto options = config::private_training_options(recipe);
  const auto before = before_training(setup.data);
  auto result = train::train_private(options, model, copies.train, held_out,
                                     setup.identity.private_seeds, progress, privacy,
                                     inline_audit ? canaries : nullptr, &setup.checkpoints, before);
  if (canaries != nullptr && !inline_audit && result.diverged.empty()) {
    if (progress != nullptr)
      fmt::print(progress, "audit: second training run carrying {} canaries\n", canaries->count());
    auto audit_model = nn::make_model(recipe.model, copies.train);
    audit_model->to(setup.device);
    train::PrivacySummary audit_privacy;
    train::train_private(options, audit_model, copies.train, held_out,
                         private_seeds(false, 0, config::secure_noise(recipe), 0), progress,
                         audit_privacy, canaries, nullptr, before);
  }
  return result;
}

// report.json's `audit`: the white-box verdict (its ROC goes to DIR/audit_roc.csv) and, when asked
// for, the black-box input-canary audit.
nlohmann::json audit_section(const config::Recipe& recipe, const RunSetup& setup,
                             const audit::DiracCanaries* canaries,
                             const train::PrivacySummary& privacy,
                             const std::filesystem::path& out_dir, std::FILE* progress) {
  if (canaries == nullptr) {
    return {{"enabled", false},
            {"reason", recipe.privacy.enabled()
                           ? "audit.enabled = false"
                           : "non-private run: there is no privacy claim to audit"}};
  }
  // Every test that can flag the run shares the verdict's family-wise level.
  const bool input_canaries = recipe.audit.input_canaries() > 0;
  const double gate_significance = audit::per_test_significance(input_canaries ? 6 : 4);
  train::Phase phase(progress, fmt::format("audit: white-box verdict over {} canaries (bounds "
                                           "and conformance tests)",
                                           canaries->count()));
  // The canaries observe the training steps only, and a canary is in the training set or not:
  // they test the steps' own add/remove claim, without the data statistics' release before
  // training (data/dp_stats.h), whatever the run's adjacency.
  auto white_box = train::audit_private_run(*canaries, privacy,
                                            train::RunAuditOptions()
                                                .confidence(recipe.audit.confidence())
                                                .inline_run(recipe.audit.inline_run())
                                                .gate_significance(gate_significance));
  auto& summary = white_box.summary;
  phase.done(summary["status"].get<std::string>());
  if (input_canaries) {
    auto input = input_canary_audit(recipe, setup.data.train, setup.data.test,
                                    before_training(setup.data), recipe.audit.input_canaries(),
                                    setup.identity.audit_seed ^ kInputCanaryStreamKey,
                                    gate_significance, progress);
    if (input["status"] == "violation") summary["status"] = "violation";
    summary["input_canaries"] = std::move(input);
  }
  write_file_atomic(out_dir / "audit_roc.csv", white_box.roc_csv);
  return summary;
}

// report.json's `mia`: black-box membership inference on the released model, private or not.
nlohmann::json attack_section(const config::Recipe& recipe, const RunSetup& setup,
                              torch::nn::Sequential& model, std::FILE* progress) {
  const auto& train_set = setup.data.train;
  const auto& test_set = setup.data.test;
  const int64_t count = std::min<int64_t>({kMiaExamples, train_set.size(), test_set.size()});
  // The run's auditor seed (audit.seed, or derived): the sample is as reproducible as the run.
  train::Phase phase(
      progress,
      fmt::format("attack: LOSS{}, {} members vs {} non-members",
                  train_set.task == data::Task::kRegression ? "" : " and modified entropy", count,
                  count));
  const auto members = data::take_random(train_set, count, setup.identity.audit_seed);
  auto mia = audit::membership_attacks(model, members, data::take_first(test_set, count));
  phase.done();
  if (recipe.audit.shadow_models() > 0) {
    mia.update(shadow_membership_attacks(recipe, model, train_set, test_set,
                                         before_training(setup.data), recipe.audit.shadow_models(),
                                         setup.identity.audit_seed ^ kShadowStreamKey, progress));
  }
  return mia;
}

}  // namespace

RunOutcome run_training(const config::Recipe& recipe, const std::filesystem::path& out_dir,
                        std::FILE* progress, bool resume, int64_t concurrent_runs) {
  config::check_model_init_exists(recipe);  // before the run folder holds anything
  auto setup = set_up(recipe, out_dir, progress, resume, concurrent_runs);
  const auto& data = setup.data;
  torch::manual_seed(setup.identity.seed);
  auto model = nn::make_model(recipe.model, data.train);
  model->to(setup.device);
  if (progress != nullptr) {
    fmt::print(progress,
               "dpforge: {} | {} ({} parameters) | {} train / {} test examples | {}{} | {} "
               "thread{} ({})\n",
               recipe.run.name(),
               nn::to_string(nn::resolved(recipe.model, data.train.example_shape()).arch()),
               nn::count_parameters(*model), train_size_text(recipe, data), data.test.size(),
               data::describe(data.train),
               setup.device.is_cpu() ? "" : " | on " + setup.device.str(), setup.threads.count,
               setup.threads.count == 1 ? "" : "s", setup.threads.reason);
    for (const auto& note : data.notes) fmt::print(progress, "data: {}\n", note);
  }
  // Under DP the warnings speak of the planned size: they are printed and reported.
  const auto warnings = train::plan_warnings(recipe.train, recipe.privacy, data.planning_size);
  for (const auto& warning : warnings) {
    if (progress != nullptr) fmt::print(progress, "warning: {}\n", warning.message);
  }
  std::optional<audit::DiracCanaries> canaries;
  if (recipe.privacy.enabled() && recipe.audit.enabled()) {
    // The auditor's secret: drawn after the training code is fixed, never from the trainer's RNG.
    canaries.emplace(recipe.audit.canaries(), setup.identity.audit_seed,
                     kCanaryPreClipMultiple * recipe.privacy.max_grad_norm());
  }
  RunOutcome outcome;
  train::PrivacySummary privacy;
  outcome.result =
      train_released(recipe, setup, model, privacy, canaries ? &*canaries : nullptr, progress);
  model->to(torch::kCPU);

  const bool reproducible = recipe.train.seed().has_value();
  auto& report = outcome.report;
  report = report::run_report(
      {recipe, outcome.result, recipe.privacy.enabled() ? &privacy : nullptr, setup.device.str(),
       nn::count_parameters(*model), data_source(recipe), data.train.size(), data.test.size(),
       data.validation.size(),
       reproducible ? std::optional<uint64_t>(setup.identity.seed) : std::nullopt, setup.resumed,
       recipe_hash(report::recipe_values_json(recipe)), warnings, &data.train, data.notes,
       data.bounds ? &*data.bounds : nullptr, data.release ? &*data.release : nullptr,
       data.vocabulary ? &*data.vocabulary : nullptr});
  report["threads"] = {{"count", setup.threads.count}, {"reason", setup.threads.reason}};
  // Frozen parameters are released as they started: what DP covers is the trained ones.
  report["model"]["trained"] = nn::trained_parameter_names(*model);
  report["model"]["frozen_parameters"] =
      nn::count_all_parameters(*model) - nn::count_parameters(*model);
  if (!outcome.result.diverged.empty()) {
    // Nothing worth releasing or attacking: keep the report (what was spent, and why it stopped).
    report["audit"] = {{"enabled", false}, {"reason", "training diverged"}};
    report["mia"] = nullptr;
    write_file_atomic(out_dir / "report.json", report.dump(2) + "\n");
    if (!recipe.train.keep_checkpoints()) setup.checkpoints.store.remove_all();
    throw_input_error("{} (no model.pt written; report: {})", outcome.result.diverged,
                      (out_dir / "report.json").string());
  }
  report["audit"] =
      audit_section(recipe, setup, canaries ? &*canaries : nullptr, privacy, out_dir, progress);
  report["mia"] = attack_section(recipe, setup, model, progress);
  nn::save_state_dict(*model, out_dir / "model.pt");
  write_file_atomic(out_dir / "model.json", describe_model(recipe, *model, data, report).dump(2));
  write_file_atomic(out_dir / "report.json", report.dump(2) + "\n");
  // The run is complete: its snapshots (which hold the noise key) have served their purpose.
  if (!recipe.train.keep_checkpoints()) setup.checkpoints.store.remove_all();
  return outcome;
}

}  // namespace dpforge::run
