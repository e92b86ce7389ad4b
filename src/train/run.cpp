// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/run.h"

#include <fstream>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/mia.h"
#include "dpforge/audit/summary.h"
#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/dp/noise.h"
#include "dpforge/nn/models.h"
#include "dpforge/privacy/log_math.h"
#include "dpforge/train/input_canary_audit.h"
#include "dpforge/train/shadow_audit.h"
#include "kernels/philox.h"
#include "src/dp/device_ops.h"

#ifndef DPFORGE_VERSION
#define DPFORGE_VERSION "unknown"
#endif

namespace dpforge::train {
namespace {

// Dirac canaries are 10·C before clipping, so that skipped clipping cannot go unnoticed.
constexpr double kCanaryPreClipMultiple = 10.0;
constexpr double kConformanceSignificance = 1e-6;
constexpr int64_t kMiaExamples = 5000;
// Keys the shadow attacks' draws apart from the canaries' (same auditor seed, other stream).
constexpr uint64_t kShadowStreamKey = 0xD1B54A32D192ED03ULL;
constexpr uint64_t kInputCanaryStreamKey = 0x8CB92BA72F3D8DD7ULL;

data::Dataset load_split(const config::Recipe& recipe, data::Split split) {
  auto dataset = data::load_fashion_mnist(data_root(recipe), split);
  if (split == data::Split::kTest) {
    return recipe.data.test_subset() > 0 ? data::take_first(dataset, recipe.data.test_subset())
                                         : dataset;
  }
  const int64_t subset = recipe.data.train_subset();
  if (subset == 0) return dataset;
  return recipe.data.subset() == "random"
             ? data::take_random(dataset, subset, static_cast<uint64_t>(recipe.data.subset_seed()))
             : data::take_first(dataset, subset);
}

// Where the training loop runs (run.device). Refused here, before anything is written, when the
// recipe asks for CUDA this build or machine cannot give.
torch::Device training_device(const config::Recipe& recipe) {
  const std::string& wanted = recipe.run.device();
  const bool gpu = torch::cuda::is_available();
  const bool kernels = dp::ops::cuda_kernels_available();
  if (wanted == "cpu" || (wanted == "auto" && !(gpu && kernels))) return torch::kCPU;
  if (!gpu) {
    throw_input_error("{}: run.device = 'cuda' is not usable: LibTorch sees no CUDA device (this build's LibTorch "
                      "is CPU-only, or the machine has no GPU); allowed values: auto, cpu, cuda; set run.device = cpu or auto",
                      recipe.path.empty() ? "command line" : recipe.path);
  }
  if (!kernels) {
    throw_input_error("{}: run.device = 'cuda': this dpforge was built without its CUDA kernels (no nvcc at build "
                      "time); rebuild with scripts/build_cuda.sh, or set run.device = cpu",
                      recipe.path.empty() ? "command line" : recipe.path);
  }
  return torch::Device(torch::kCUDA, 0);
}

data::Dataset on_device(const data::Dataset& dataset, const torch::Device& device) {
  if (device.is_cpu()) return dataset;
  return {dataset.images.to(device), dataset.labels.to(device), dataset.num_classes};
}

uint64_t seed_from_os() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

void prepare_out_dir(const std::filesystem::path& out_dir, bool resume) {
  if (resume) {
    if (!std::filesystem::is_directory(out_dir)) {
      throw_input_error("--resume {}: no such run folder", out_dir.string());
    }
  } else {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error) {
      throw_input_error("--out {}: cannot create the output folder ({})", out_dir.string(),
                        error.message());
    }
    if (std::filesystem::exists(out_dir / "checkpoints") || std::filesystem::exists(out_dir / "privacy_ledger.json")) {
      throw_input_error("--out {}: holds an unfinished run (checkpoints, privacy_ledger.json); continue it "
                        "with --resume {} or choose another folder",
                        out_dir.string(), out_dir.string());
    }
  }
  if (std::filesystem::exists(out_dir / "report.json")) {
    throw_input_error("{} {}: already holds a finished run (report.json); choose another folder",
                      resume ? "--resume" : "--out", out_dir.string());
  }
  // Fail now, not after hours of training, when the folder cannot be written.
  write_file_atomic(out_dir / ".dpforge-write-test", "");
  std::filesystem::remove(out_dir / ".dpforge-write-test");
}

// What a run was started with: compared on resume, saved in every checkpoint. Holds the run's
// seeds, so it lives only in the checkpoints (deleted when the run finishes).
struct RunIdentity {
  uint64_t seed = 0;   // model initialization and (non-private) batch order
  uint64_t audit_seed = 0;
  PrivateSeeds private_seeds;
  nlohmann::json recipe_values;

  nlohmann::json to_json() const {
    return {{"seed", seed},
            {"audit_seed", audit_seed},
            {"sampler_seed", private_seeds.sampler},
            {"noise_seed", private_seeds.noise},
            {"secure_noise", private_seeds.secure_noise},
            {"recipe_values", recipe_values}};
  }
  static RunIdentity from_json(const nlohmann::json& json) {
    RunIdentity identity;
    identity.seed = json.at("seed").get<uint64_t>();
    identity.audit_seed = json.at("audit_seed").get<uint64_t>();
    identity.private_seeds = {json.at("sampler_seed").get<uint64_t>(), json.at("noise_seed").get<uint64_t>(),
                              json.at("secure_noise").get<bool>()};
    identity.recipe_values = json.at("recipe_values");
    return identity;
  }
};

nlohmann::json recipe_values_json(const config::Recipe& recipe) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : config::resolved_values(recipe)) values[key] = value;
  return values;
}

// Independent streams for the sampler and the noise. With a recipe seed both are derived from it
// (reproducible, so the noise is known to whoever knows the seed); otherwise each comes from the
// OS and is never written anywhere.
// Secure noise takes its key from the CSPRNG (getrandom), not std::random_device.
PrivateSeeds private_seeds(bool reproducible, uint64_t seed, bool secure) {
  if (!reproducible) return PrivateSeeds{seed_from_os(), secure ? dp::secure_random_seed() : seed_from_os(), secure};
  auto derive = [seed](uint64_t purpose) {
    const auto bits = kernels::philox4x32_10(seed, purpose);
    return (static_cast<uint64_t>(bits.v[0]) << 32) | bits.v[1];
  };
  return PrivateSeeds{derive(1), derive(2), secure};
}

nlohmann::json privacy_json(const PrivacySummary& p) {
  return {{"enabled", true},
          {"epsilon", p.epsilon},
          {"delta", p.delta},
          {"accountant", p.accountant},
          {"rdp_order", p.rdp_order},
          {"target_epsilon", p.target_epsilon > 0 ? nlohmann::json(p.target_epsilon) : nlohmann::json(nullptr)},
          {"noise_multiplier", p.noise_multiplier},
          {"sample_rate", p.sample_rate},
          {"expected_batch_size", p.expected_batch_size},
          {"max_grad_norm", p.max_grad_norm},
          {"clipping", p.clipping},
          {"steps", p.steps},
          {"planned_steps", p.planned_steps},
          {"stopped_by_budget", p.stopped_by_budget},
          {"empty_batches", p.empty_batches},
          {"examples_dropped_nonfinite", p.examples_dropped_nonfinite},
          {"sampling", "poisson"},
          {"adjacency", "add_or_remove_one"},
          {"train_metrics_private", false},
          {"fault", p.fault},
          {"secure_noise", p.secure_noise},
          {"private", p.fault == "none"},
          {"accountant_state", p.accountant_state}};
}

nlohmann::json metrics_json(const TrainResult& result) {
  auto epochs = nlohmann::json::array();
  for (const auto& m : result.epochs) epochs.push_back(to_json(m));
  return epochs;
}

}  // namespace

RunData load_run_data(const config::Recipe& recipe) {
  RunData data{load_split(recipe, data::Split::kTrain), load_split(recipe, data::Split::kTest), {}};
  if (const int64_t held = recipe.data.validation_size(); held > 0) {
    if (held >= data.train.size()) {
      throw_input_error("data.validation_size = {} leaves no training examples (the training split has {})",
                        held, data.train.size());
    }
    // The last `held` examples: never trained on, so DP makes no promise about them.
    const int64_t kept = data.train.size() - held;
    const auto& train = data.train;
    data.validation = {train.images.slice(0, kept), train.labels.slice(0, kept), train.num_classes};
    data.train = {train.images.slice(0, 0, kept), train.labels.slice(0, 0, kept), train.num_classes};
  }
  return data;
}

void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error("{}: cannot open the model weights", path.string());
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue loaded;
  try {
    loaded = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& error) {
    throw_input_error("{}: not a PyTorch state dict ({})", path.string(), error.what_without_backtrace());
  }
  if (!loaded.isGenericDict()) throw_input_error("{}: not a state dict (name -> tensor)", path.string());
  const auto dict = loaded.toGenericDict();
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, torch::Tensor& target) {
    const auto found = dict.find(c10::IValue(name));
    if (found == dict.end()) throw_input_error("{}: has no '{}' for this model", path.string(), name);
    const auto value = found->value().toTensor();
    if (value.sizes() != target.sizes()) {
      throw_input_error("{}: '{}' has shape {}, the model needs {}", path.string(), name, fmt::streamed(value.sizes()),
                        fmt::streamed(target.sizes()));
    }
    target.copy_(value);
  };
  for (auto& item : model.named_parameters()) assign(item.key(), item.value());
  for (auto& item : model.named_buffers()) assign(item.key(), item.value());
}

std::filesystem::path data_root(const config::Recipe& recipe) {
  return recipe.data.root().empty() ? data::default_fashion_mnist_root()
                                    : std::filesystem::path(recipe.data.root());
}

void save_state_dict(const torch::nn::Module& model, const std::filesystem::path& path) {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& item : model.named_parameters()) state.insert(item.key(), item.value().detach());
  for (const auto& item : model.named_buffers()) state.insert(item.key(), item.value().detach());
  // torch::pickle_save would tag the dict with its TorchScript type, a global that Python's
  // default `torch.load(weights_only=True)` refuses; so pickle without aggregate tags and write
  // the same zip container (data.pkl + data/<i> per tensor) that Python's torch.save writes.
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* bytes, size_t size) { pickled.insert(pickled.end(), bytes, bytes + size); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(state));
  pickler.stop();
  std::string container;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t size) {
    container.append(static_cast<const char*>(bytes), size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  write_file_atomic(path, container);
}

RunOutcome run_training(const config::Recipe& recipe, const std::filesystem::path& out_dir,
                        std::FILE* progress, bool resume) {
  // Everything that can fail on bad input happens before the output folder is touched.
  auto data = load_run_data(recipe);
  const auto& train_set = data.train;
  const auto& test_set = data.test;
  const auto& validation_set = data.validation;
  const torch::Device device = training_device(recipe);
  prepare_out_dir(out_dir, resume);
  // The training loop reads batches from device-resident copies (no host-to-device copy per step);
  // audits after training use the CPU originals and a CPU copy of the model.
  const auto train_on_device = on_device(train_set, device);
  const auto test_on_device = on_device(test_set, device);
  const auto validation_on_device = on_device(validation_set, device);
  const HeldOut held_out{test_on_device, validation_set.size() > 0 ? &validation_on_device : nullptr};

  if (recipe.run.threads() > 0) torch::set_num_threads(static_cast<int>(recipe.run.threads()));
  const bool reproducible = recipe.train.seed().has_value();
  RunCheckpoints checkpoints(out_dir);
  checkpoints.every = recipe.train.checkpoint_every();
  RunIdentity identity;
  if (resume) {
    checkpoints.resume_from = checkpoints.store.load_latest(progress);
    if (!checkpoints.resume_from) {
      const auto ledger = PrivacyLedger::read(checkpoints.ledger_path);
      throw_input_error("--resume {}: no intact checkpoint in {}{}; the run cannot continue, start a new "
                        "one in another folder",
                        out_dir.string(), checkpoints.store.dir().string(),
                        ledger ? fmt::format(" (its ledger records {} steps, epsilon {:.4g}, as spent)",
                                             ledger->at("steps").get<int64_t>(), ledger->at("epsilon").get<double>())
                               : "");
    }
    identity = RunIdentity::from_json(peek_snapshot_state(checkpoints.resume_from->payload).at("identity"));
    check_resume_recipe(identity.recipe_values, recipe_values_json(recipe));
  } else {
    identity.seed = reproducible ? *recipe.train.seed() : seed_from_os();
    identity.audit_seed = recipe.audit.seed().value_or(seed_from_os());
    identity.private_seeds = private_seeds(reproducible, identity.seed, config::secure_noise(recipe));
    identity.recipe_values = recipe_values_json(recipe);
  }
  checkpoints.identity = identity.to_json();
  const uint64_t seed = identity.seed;
  torch::manual_seed(seed);
  auto model = nn::make_model(recipe.model, train_set.num_classes);
  model->to(device);

  if (progress != nullptr) {
    fmt::print(progress, "dpforge: {} | {} ({} parameters) | {} train / {} test examples{}\n",
               recipe.run.name(), recipe.model.arch(), nn::count_parameters(*model),
               train_set.size(), test_set.size(), device.is_cpu() ? "" : " | on " + device.str());
  }
  RunOutcome outcome;
  PrivacySummary privacy;
  const bool auditing = recipe.privacy.enabled() && recipe.audit.enabled();
  std::optional<audit::DiracCanaries> canaries;
  if (auditing) {
    // The auditor's secret: drawn after the training code is fixed, never from the trainer's RNG.
    canaries.emplace(recipe.audit.canaries(), identity.audit_seed,
                     kCanaryPreClipMultiple * recipe.privacy.max_grad_norm());
  }
  if (recipe.privacy.enabled()) {
    outcome.result = train_private(recipe, model, train_on_device, held_out, identity.private_seeds,
                                   progress, privacy,
                                   auditing && recipe.audit.inline_run() ? &*canaries : nullptr, &checkpoints);
  } else {
    outcome.result = train_nonprivate(recipe, model, train_on_device, held_out, seed, progress, &checkpoints);
  }
  model->to(torch::kCPU);
  const bool diverged = !outcome.result.diverged.empty();
  if (auditing && !recipe.audit.inline_run() && !diverged) {
    if (progress != nullptr) fmt::print(progress, "audit: second training run carrying {} canaries\n", canaries->count());
    auto audit_model = nn::make_model(recipe.model, train_set.num_classes);
    audit_model->to(device);
    PrivacySummary audit_privacy;
    train_private(recipe, audit_model, train_on_device, held_out,
                  private_seeds(false, 0, config::secure_noise(recipe)), progress, audit_privacy, &*canaries);
  }

  nlohmann::json values = recipe_values_json(recipe);
  auto& report = outcome.report;
  report["dpforge_version"] = DPFORGE_VERSION;
  report["recipe"] = {{"path", recipe.path}, {"name", recipe.run.name()}, {"values", values}};
  report["model"] = {{"arch", recipe.model.arch()}, {"parameters", nn::count_parameters(*model)}};
  report["device"] = device.str();
  report["data"] = {{"dataset", recipe.data.dataset()},
                    {"root", data_root(recipe).string()},
                    {"train_examples", train_set.size()},
                    {"test_examples", test_set.size()},
                    {"validation_examples", validation_set.size()}};
  // A seed is reported only when the recipe chose it: an OS-drawn seed stays secret.
  report["seed"] = reproducible ? nlohmann::json(seed) : nlohmann::json(nullptr);
  report["reproducible"] = reproducible;
  report["privacy"] = recipe.privacy.enabled() ? privacy_json(privacy) : nlohmann::json{{"enabled", false}};
  report["epochs"] = metrics_json(outcome.result);
  report["steps"] = outcome.result.steps;
  report["test_accuracy"] = outcome.result.test_accuracy;
  report["wall_seconds"] = outcome.result.wall_seconds;
  report["versions"] = {{"dpforge", DPFORGE_VERSION},
                        {"libtorch", TORCH_VERSION},
                        {"fmt", FMT_VERSION},
                        {"compiler", __VERSION__}};

  report["stopped"] = diverged                                ? nlohmann::json(outcome.result.diverged)
                      : !outcome.result.stopped_early.empty() ? nlohmann::json(outcome.result.stopped_early)
                                                              : nlohmann::json(nullptr);
  if (diverged) {
    // Nothing worth releasing or attacking: keep the report (what was spent, and why it stopped).
    report["audit"] = {{"enabled", false}, {"reason", "training diverged"}};
    report["mia"] = nullptr;
    write_file_atomic(out_dir / "report.json", report.dump(2) + "\n");
    if (!recipe.train.keep_checkpoints()) checkpoints.store.remove_all();
    throw_input_error("{} (no model.pt written; report: {})", outcome.result.diverged,
                      (out_dir / "report.json").string());
  }
  if (auditing) {
    const audit::CanaryAuditor auditor(canaries->member_scores(), canaries->non_member_scores());
    auto summary = audit::summarize(auditor, recipe.audit.confidence(), privacy.delta);
    const auto& bounds = summary["epsilon_lower_bound"];
    const double lower = std::max(bounds["one_run_steinke"].get<double>(), bounds["one_run_fdp"].get<double>());
    summary["enabled"] = true;
    summary["method"] = "white-box one-run audit: Dirac canaries on auditor-owned coordinates";
    summary["inline"] = recipe.audit.inline_run();
    summary["accuracy_cost"] = recipe.audit.inline_run()
                                   ? "none: canaries touch only coordinates the model never reads"
                                   : "none: a separate training run carried the canaries";
    summary["canaries"] = canaries->count();
    summary["canary_pre_clip_norm"] = canaries->pre_clip_norm();
    summary["accountant_epsilon"] = privacy.epsilon;
    summary["epsilon_lower_bound_best"] = lower;
    // Conformance z-tests at a fixed 1e-6 significance each: a faithful run is flagged once in
    // ~10⁶ audits, while missing noise or over-sampling gives |z| in the tens or hundreds.
    const auto conformance = canaries->conformance();
    const double critical_z = -privacy::normal_quantile(kConformanceSignificance);
    const bool noise_ok = conformance.noise_z > -critical_z;
    const bool sampling_ok = conformance.member_z < critical_z;
    summary["conformance"] = {{"significance", kConformanceSignificance},
                              {"noise_std_measured_over_claimed", conformance.noise_std_ratio},
                              {"noise_z", conformance.noise_z},
                              {"noise_samples", conformance.noise_samples},
                              {"noise_ok", noise_ok},
                              {"member_update_mean", conformance.member_mean},
                              {"claimed_sample_rate", privacy.sample_rate},
                              {"sampling_and_clipping_z", conformance.member_z},
                              {"sampling_and_clipping_ok", sampling_ok}};
    summary["roc"] = auditor.roc_points();
    summary["status"] = lower > privacy.epsilon || !noise_ok || !sampling_ok ? "violation" : "pass";
    summary["audits"] = "sampling, clipping of whole-example gradients, noise, the divisor and the accountant; not the per-layer norm code (audit.input_canaries covers it)";
    if (recipe.audit.input_canaries() > 0 && !diverged) {
      auto input = input_canary_audit(recipe, train_set, test_set, recipe.audit.input_canaries(),
                                      identity.audit_seed ^ kInputCanaryStreamKey, progress);
      if (input["status"] == "violation") summary["status"] = "violation";
      summary["input_canaries"] = std::move(input);
    }
    report["audit"] = summary;
    write_file_atomic(out_dir / "audit_roc.csv", auditor.roc_csv());
  } else {
    report["audit"] = {{"enabled", false},
                       {"reason", recipe.privacy.enabled() ? "audit.enabled = false"
                                                           : "non-private run: there is no privacy claim to audit"}};
  }
  {
    // Black-box membership inference on the released model, private or not (attack metrics).
    const int64_t count = std::min<int64_t>({kMiaExamples, train_set.size(), test_set.size()});
    const auto members = data::take_random(train_set, count, recipe.audit.seed().value_or(seed_from_os()));
    report["mia"] = audit::membership_attacks(model, members, data::take_first(test_set, count));
  }
  if (recipe.audit.shadow_models() > 0) {
    report["mia"].update(shadow_membership_attacks(recipe, model, train_set, test_set, recipe.audit.shadow_models(),
                                                   identity.audit_seed ^ kShadowStreamKey, progress));
  }
  report["resumed"] = resume;
  save_state_dict(*model, out_dir / "model.pt");
  write_file_atomic(out_dir / "report.json", report.dump(2) + "\n");
  // The run is complete: its snapshots (which hold the noise key) have served their purpose.
  if (!recipe.train.keep_checkpoints()) checkpoints.store.remove_all();
  return outcome;
}

}  // namespace dpforge::train
