// SPDX-License-Identifier: Apache-2.0
// Each recipe key is declared once here with a setter and a getter on the typed structs, so
// defaults live in the structs (recipe.h) alone.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "src/config/key_table.h"

namespace dpforge::config::detail {
namespace {

int64_t parse_int(const std::string& text, int64_t lo, int64_t hi, const std::string& allowed) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    throw BadValue{allowed};
  }
  return value;
}

double parse_double(const std::string& text, double lo, bool lo_open, double hi,
                    const std::string& allowed) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
      value < lo || (lo_open && value == lo) || value > hi) {
    throw BadValue{allowed};
  }
  return value;
}

// One spelling per value: a recipe (and report.json, which stores it) reads the same everywhere.
bool parse_bool(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  throw BadValue{"true or false"};
}

std::string format_double(double value) { return fmt::format("{}", value); }

template <typename Get, typename Set>
KeySpec int_key(std::string key, int64_t lo, int64_t hi, std::string doc, Get get, Set set) {
  std::string allowed = hi == std::numeric_limits<int64_t>::max()
                            ? fmt::format("an integer >= {}", lo)
                            : fmt::format("an integer in [{}, {}]", lo, hi);
  return KeySpec{
      std::move(key),
      "int",
      allowed,
      std::move(doc),
      [=](Recipe& r, const std::string& text) { set(r, parse_int(text, lo, hi, allowed)); },
      [=](const Recipe& r) { return std::to_string(get(r)); }};
}

template <typename Get, typename Set>
KeySpec float_key(std::string key, double lo, bool lo_open, double hi, std::string doc, Get get,
                  Set set) {
  std::string allowed = hi == std::numeric_limits<double>::infinity()
                            ? fmt::format("a number {} {:g}", lo_open ? ">" : ">=", lo)
                            : fmt::format("a number in {}{:g}, {:g}]", lo_open ? "(" : "[", lo, hi);
  return KeySpec{std::move(key),
                 "float",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   set(r, parse_double(text, lo, lo_open, hi, allowed));
                 },
                 [=](const Recipe& r) { return format_double(get(r)); }};
}

template <typename Get, typename Set>
KeySpec bool_key(std::string key, std::string doc, Get get, Set set) {
  return KeySpec{std::move(key),
                 "bool",
                 "true or false",
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) { set(r, parse_bool(text)); },
                 [=](const Recipe& r) { return std::string(get(r) ? "true" : "false"); }};
}

template <typename Enum, std::size_t N, typename Get, typename Set>
KeySpec enum_key(std::string key, const EnumNames<Enum, N>& names, std::string doc, Get get,
                 Set set) {
  std::string allowed = fmt::format("one of {}", names.allowed());
  return KeySpec{std::move(key),
                 "enum",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   const auto value = names.parse(text);
                   if (!value) throw BadValue{allowed};
                   set(r, *value);
                 },
                 [=](const Recipe& r) { return std::string(names.name(get(r))); }};
}

template <typename Get, typename Set>
KeySpec string_key(std::string key, std::string doc, Get get, Set set) {
  return KeySpec{std::move(key),
                 "string",
                 "any text",
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) { set(r, text); },
                 [=](const Recipe& r) { return get(r); }};
}

template <typename Get, typename Set>
KeySpec seed_key(std::string key, std::string doc, Get get, Set set) {
  const std::string allowed = "an integer in [0, 2^64-1], or empty for a seed from the OS";
  return KeySpec{std::move(key),
                 "int or empty",
                 allowed,
                 std::move(doc),
                 [=](Recipe& r, const std::string& text) {
                   if (text.empty()) {
                     set(r, std::nullopt);
                     return;
                   }
                   uint64_t value = 0;
                   const auto [end, ec] =
                       std::from_chars(text.data(), text.data() + text.size(), value);
                   if (ec != std::errc() || end != text.data() + text.size())
                     throw BadValue{allowed};
                   set(r, value);
                 },
                 [=](const Recipe& r) {
                   const std::optional<uint64_t> seed = get(r);
                   return seed ? std::to_string(*seed) : std::string();
                 }};
}

}  // namespace

const std::vector<KeySpec>& key_table() {
  constexpr auto kMaxInt = std::numeric_limits<int64_t>::max();
  constexpr double kLargestRate = 1e15;
  static const std::vector<KeySpec> table = {
      string_key(
          "run.name",
          "Name of the run; the default output folder is runs/<name>-<YYYYmmdd-HHMMSS>. Empty: "
          "the recipe file's stem.",
          [](const Recipe& r) { return r.run.name(); },
          [](Recipe& r, const std::string& v) { r.run.name(v); }),
      int_key(
          "run.threads", 0, 1024, "LibTorch compute threads; 0 = all cores.",
          [](const Recipe& r) { return r.run.threads(); },
          [](Recipe& r, int64_t v) { r.run.threads(v); }),
      enum_key(
          "run.device", kDeviceNames,
          "Where training runs: auto = the first CUDA GPU when this build and machine have one, "
          "else "
          "the CPU. The dataset is kept on the device; audits after training run on the CPU.",
          [](const Recipe& r) { return r.run.device(); },
          [](Recipe& r, auto v) { r.run.device(v); }),

      enum_key(
          "data.dataset", kDatasetNames, "Dataset to train on.",
          [](const Recipe& r) { return r.data.dataset(); },
          [](Recipe& r, auto v) { r.data.dataset(v); }),
      string_key(
          "data.root",
          "Folder holding the four Fashion-MNIST IDX .gz files. Empty: $DPFORGE_DATA_ROOT, "
          "else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).",
          [](const Recipe& r) { return r.data.root(); },
          [](Recipe& r, const std::string& v) { r.data.root(v); }),
      int_key(
          "data.train_subset", 0, kMaxInt,
          "Train on this many examples only; 0 = the whole training split.",
          [](const Recipe& r) { return r.data.train_subset(); },
          [](Recipe& r, int64_t v) { r.data.train_subset(v); }),
      enum_key(
          "data.subset", kSubsetNames,
          "How data.train_subset chooses: the first N examples, or N drawn at random with "
          "data.subset_seed.",
          [](const Recipe& r) { return r.data.subset(); },
          [](Recipe& r, auto v) { r.data.subset(v); }),
      int_key(
          "data.subset_seed", 0, kMaxInt,
          "Seed of the random subset (chooses data only; not the training seed).",
          [](const Recipe& r) { return r.data.subset_seed(); },
          [](Recipe& r, int64_t v) { r.data.subset_seed(v); }),
      int_key(
          "data.test_subset", 0, kMaxInt,
          "Evaluate on the first N test examples only; 0 = the whole test split.",
          [](const Recipe& r) { return r.data.test_subset(); },
          [](Recipe& r, int64_t v) { r.data.test_subset(v); }),
      int_key(
          "data.validation_size", 0, kMaxInt,
          "Hold the last N training examples out of training as the validation set watched by "
          "train.early_stopping_patience (they are not trained on, so DP does not cover them); 0 = "
          "none.",
          [](const Recipe& r) { return r.data.validation_size(); },
          [](Recipe& r, int64_t v) { r.data.validation_size(v); }),

      enum_key(
          "model.arch", nn::kArchNames,
          "Model: a 2-hidden-layer tanh MLP, the 26k-parameter tanh CNN of Tramèr & Boneh (2021), "
          "or a GroupNorm WRN-16-4.",
          [](const Recipe& r) { return r.model.arch(); },
          [](Recipe& r, auto v) { r.model.arch(v); }),
      // 8192² weights (268 MB) in the second layer already; more would exhaust memory.
      int_key(
          "model.mlp_hidden", 1, 8192, "Width of each of the mlp's two hidden layers.",
          [](const Recipe& r) { return r.model.mlp_hidden(); },
          [](Recipe& r, int64_t v) { r.model.mlp_hidden(v); }),
      float_key(
          "model.dropout", 0, false, 0.95,
          "Dropout probability after each hidden activation of mlp and cnn_tanh; 0 = none (a "
          "defense to compare against DP).",
          [](const Recipe& r) { return r.model.dropout(); },
          [](Recipe& r, double v) { r.model.dropout(v); }),

      int_key(
          "train.epochs", 1, 100000,
          "Passes over the training data (under DP: epochs * N / batch_size steps).",
          [](const Recipe& r) { return r.train.epochs(); },
          [](Recipe& r, int64_t v) { r.train.epochs(v); }),
      int_key(
          "train.batch_size", 1, kMaxInt,
          "Logical batch size; under DP the expected batch size q*N of Poisson sampling.",
          [](const Recipe& r) { return r.train.batch_size(); },
          [](Recipe& r, int64_t v) { r.train.batch_size(v); }),
      int_key(
          "train.max_physical_batch", 1, kMaxInt,
          "Most examples pushed through the model at once; larger logical batches are accumulated.",
          [](const Recipe& r) { return r.train.max_physical_batch(); },
          [](Recipe& r, int64_t v) { r.train.max_physical_batch(v); }),
      enum_key(
          "train.optimizer", kOptimizerNames, "Inner optimizer.",
          [](const Recipe& r) { return r.train.optimizer(); },
          [](Recipe& r, auto v) { r.train.optimizer(v); }),
      // Optimizers compute in float32, and Adam's lr/(1-β₁) and AdamW's lr·weight_decay must stay
      // representable there; no useful value comes near these bounds.
      float_key(
          "train.lr", 0, true, kLargestRate, "Learning rate.",
          [](const Recipe& r) { return r.train.lr(); }, [](Recipe& r, double v) { r.train.lr(v); }),
      enum_key(
          "train.lr_schedule", kLrScheduleNames,
          "Learning-rate schedule over all steps: constant, or cosine decay from train.lr to 0.",
          [](const Recipe& r) { return r.train.lr_schedule(); },
          [](Recipe& r, auto v) { r.train.lr_schedule(v); }),
      float_key(
          "train.momentum", 0, false, 1,
          "SGD momentum; must be < 1 to converge (ignored by adam/adamw).",
          [](const Recipe& r) { return r.train.momentum(); },
          [](Recipe& r, double v) { r.train.momentum(v); }),
      float_key(
          "train.weight_decay", 0, false, kLargestRate,
          "L2 penalty (sgd, adam) or decoupled decay (adamw).",
          [](const Recipe& r) { return r.train.weight_decay(); },
          [](Recipe& r, double v) { r.train.weight_decay(v); }),
      float_key(
          "train.label_smoothing", 0, false, 0.95,
          "Label smoothing of the cross-entropy loss; 0 = none (a defense to compare against DP).",
          [](const Recipe& r) { return r.train.label_smoothing(); },
          [](Recipe& r, double v) { r.train.label_smoothing(v); }),
      int_key(
          "train.early_stopping_patience", 0, 100000,
          "Stop when the validation accuracy (data.validation_size examples) has not improved for "
          "this many epochs; 0 = never (a defense to compare against DP).",
          [](const Recipe& r) { return r.train.early_stopping_patience(); },
          [](Recipe& r, int64_t v) { r.train.early_stopping_patience(v); }),
      seed_key(
          "train.seed",
          "Seed for initialization, batch order and noise. Empty: drawn from the OS (not "
          "reproducible). "
          "Set: the run is reproducible, so its noise is known; never use a set seed for a release "
          "model.",
          [](const Recipe& r) { return r.train.seed(); },
          [](Recipe& r, std::optional<uint64_t> v) { r.train.seed(v); }),
      int_key(
          "train.checkpoint_every", 0, kMaxInt,
          "Steps between checkpoints in <out>/checkpoints (one is also written before the first "
          "step and at the end); 0 = one per epoch. Resume with dpforge train --resume <out> (it "
          "reads <out>/recipe.ini).",
          [](const Recipe& r) { return r.train.checkpoint_every(); },
          [](Recipe& r, int64_t v) { r.train.checkpoint_every(v); }),
      bool_key(
          "train.keep_checkpoints",
          "Keep <out>/checkpoints once the run has finished. A private run's checkpoints hold its "
          "secret noise key: anyone with them and the model can strip the noise.",
          [](const Recipe& r) { return r.train.keep_checkpoints(); },
          [](Recipe& r, bool v) { r.train.keep_checkpoints(v); }),

      bool_key(
          "privacy.enabled", "Train with DP-SGD.",
          [](const Recipe& r) { return r.privacy.enabled(); },
          [](Recipe& r, bool v) { r.privacy.enabled(v); }),
      // The noise std σ·C (σ ≤ 1e6) must stay finite in float32.
      float_key(
          "privacy.max_grad_norm", 0, true, 1e30,
          "Clipping norm C: every example's gradient is scaled to norm <= C before summing.",
          [](const Recipe& r) { return r.privacy.max_grad_norm(); },
          [](Recipe& r, double v) { r.privacy.max_grad_norm(v); }),
      float_key(
          "privacy.noise_multiplier", 0, false, 1e6,
          "Noise multiplier sigma (noise std on the clipped sum = sigma * C). 0: calibrate it "
          "from privacy.target_epsilon. With both set, training uses this sigma and stops "
          "before a step would exceed target_epsilon.",
          [](const Recipe& r) { return r.privacy.noise_multiplier(); },
          [](Recipe& r, double v) { r.privacy.noise_multiplier(v); }),
      float_key(
          "privacy.target_epsilon", 0, false, 1e6,
          "Privacy budget epsilon for the whole run; sigma is calibrated so the run ends at "
          "or below it, and no step beyond it is taken. 0: no target (then give sigma).",
          [](const Recipe& r) { return r.privacy.target_epsilon(); },
          [](Recipe& r, double v) { r.privacy.target_epsilon(v); }),
      float_key(
          "privacy.delta", 0, true, 1, "delta of (epsilon, delta)-DP; choose delta << 1/N.",
          [](const Recipe& r) { return r.privacy.delta(); },
          [](Recipe& r, double v) { r.privacy.delta(v); }),
      enum_key(
          "privacy.clipping", dp::kClipModeNames,
          "flat: one norm over all parameters; per_layer: each of L layers to C/sqrt(L); "
          "automatic: every gradient scaled by C/(norm + 0.01) (Bu et al. 2023).",
          [](const Recipe& r) { return r.privacy.clipping(); },
          [](Recipe& r, auto v) { r.privacy.clipping(v); }),
      enum_key(
          "privacy.accountant", privacy::kAccountantNames,
          "Accountant for the reported epsilon, the calibration and the budget: pld (tight, "
          "certified upper bound) or rdp (Renyi DP, looser). See docs/privacy.md.",
          [](const Recipe& r) { return r.privacy.accountant(); },
          [](Recipe& r, auto v) { r.privacy.accountant(v); }),
      enum_key(
          "privacy.fault", audit::kFaultNames,
          "FOR AUDITOR VALIDATION ONLY: inject a privacy bug (no noise, half the noise, no "
          "clipping, sampling at twice the rate told to the accountant) that the audit must "
          "flag. A run with a fault is reported as NOT private.",
          [](const Recipe& r) { return r.privacy.fault(); },
          [](Recipe& r, auto v) { r.privacy.fault(v); }),
      enum_key(
          "privacy.secure_noise", kSecureNoiseNames,
          "true: the noise key comes from the OS CSPRNG and every Gaussian is the sum of four, "
          "halved (mitigates floating-point attacks on samplers, as Opacus's secure mode; 4x the "
          "generator work). auto: true unless train.seed is set. true with train.seed is refused.",
          [](const Recipe& r) { return r.privacy.secure_noise(); },
          [](Recipe& r, auto v) { r.privacy.secure_noise(v); }),
      bool_key(
          "audit.enabled",
          "After a private run, audit its claim with white-box Dirac canaries (one run) and "
          "report epsilon lower bounds beside the accountant's epsilon; exit 3 on a violation.",
          [](const Recipe& r) { return r.audit.enabled(); },
          [](Recipe& r, bool v) { r.audit.enabled(v); }),
      int_key(
          "audit.canaries", 100, 10'000'000,
          "Number of canaries m (each a member with probability 1/2).",
          [](const Recipe& r) { return r.audit.canaries(); },
          [](Recipe& r, int64_t v) { r.audit.canaries(v); }),
      float_key(
          "audit.confidence", 0.5, true, 0.999999, "Confidence of the epsilon lower bounds.",
          [](const Recipe& r) { return r.audit.confidence(); },
          [](Recipe& r, double v) { r.audit.confidence(v); }),
      bool_key(
          "audit.inline",
          "true: canaries ride along in the training run (they only touch auditor-owned "
          "coordinates the model never reads: no accuracy cost); false: a second training run "
          "carries them (twice the time).",
          [](const Recipe& r) { return r.audit.inline_run(); },
          [](Recipe& r, bool v) { r.audit.inline_run(v); }),
      seed_key(
          "audit.seed",
          "Seed of the auditor's secret generator (canary membership). Empty: derived from "
          "train.seed in a seeded run (member canaries shape its batches), else from the OS.",
          [](const Recipe& r) { return r.audit.seed(); },
          [](Recipe& r, std::optional<uint64_t> v) { r.audit.seed(v); }),
      int_key(
          "audit.input_canaries", 0, 1'000'000,
          "Black-box audit too: this many test examples with flipped labels, each a member with "
          "probability 1/2, join the data of one more training run; their -loss on it gives a "
          "one-run "
          "lower bound that covers the whole pipeline (per-layer norms included). 0 = none.",
          [](const Recipe& r) { return r.audit.input_canaries(); },
          [](Recipe& r, int64_t v) { r.audit.input_canaries(v); }),
      int_key(
          "audit.shadow_models", 0, 1024,
          "Shadow models for LiRA (online/offline) and RMIA on the released model, each trained by "
          "the same recipe on random halves of the data (each one more training run); 0 = none. "
          "Also: dpforge audit RUN_DIR --set audit.shadow_models=K after the fact.",
          [](const Recipe& r) { return r.audit.shadow_models(); },
          [](Recipe& r, int64_t v) { r.audit.shadow_models(v); }),
      string_key(
          "sweep.grid",
          "For dpforge sweep: 'key=v1,v2; key2=v3,v4' runs the cartesian product (ignored by "
          "train).",
          [](const Recipe& r) { return r.sweep.grid(); },
          [](Recipe& r, const std::string& v) { r.sweep.grid(v); }),
      string_key(
          "sweep.variants",
          "For dpforge sweep: 'name: key=value key=value | name2: ...' named sets of overrides, "
          "crossed with sweep.grid (ignored by train).",
          [](const Recipe& r) { return r.sweep.variants(); },
          [](Recipe& r, const std::string& v) { r.sweep.variants(v); }),
  };
  return table;
}

}  // namespace dpforge::config::detail
