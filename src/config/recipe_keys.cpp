// SPDX-License-Identifier: Apache-2.0
// Each recipe key is declared once here with a setter and a getter on the typed structs, so
// defaults live in the structs (recipe.h) alone.
#include <algorithm>
#include <iterator>

#include "src/config/key_makers.h"

namespace dpforge::config::detail {

namespace {

std::vector<KeySpec> make_key_table() {
  constexpr auto kMaxInt = std::numeric_limits<int64_t>::max();
  constexpr double kLargestRate = 1e15;
  std::vector<KeySpec> table = {
      string_key(
          "run.name",
          "Name of the run; the default output folder is runs/<name>-<YYYYmmdd-HHMMSS>. Empty: "
          "the recipe file's stem.",
          [](const Recipe& r) { return r.run.name(); },
          [](Recipe& r, const std::string& v) { r.run.name(v); }),
      int_key(
          "run.threads", 0, 1024,
          "Compute threads: a private CPU run's step workers (docs/design.md, Threads), else "
          "LibTorch's intra-op pool. 0 = auto: the CPUs this process may use (affinity mask, "
          "cgroup CPU quota; OMP_NUM_THREADS when set), shared among the runs started together "
          "(sweep --jobs), stated in the run's first line and report.json.",
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
          "model.arch", nn::kArchNames,
          "Model: a 2-hidden-layer tanh MLP, the 26k-parameter tanh CNN of Tramèr & Boneh (2021), "
          "a GroupNorm WRN-16-4, or layers: the network model.layers writes (docs/models.md gives "
          "each preset as a layer string). auto: cnn_tanh for images of at least 16 x 16 pixels "
          "(Fashion-MNIST), mlp for tables, vectors and smaller images.",
          [](const Recipe& r) { return r.model.arch(); },
          [](Recipe& r, auto v) { r.model.arch(v); }),
      string_key(
          "model.layers",
          "With model.arch = layers: the network as a sequence of layers, sizes inferred from "
          "the data, out = the task's outputs, e.g. 'conv(16, k=8, s=2, p=2) tanh maxpool(2, "
          "s=1) flatten linear(32) tanh linear(out)' (docs/models.md lists the layers).",
          [](const Recipe& r) { return r.model.layers(); },
          [](Recipe& r, const std::string& v) { r.model.layers(v); }),
      string_key(
          "model.init",
          "Pretrained weights the model starts from: a state dict saved by Python "
          "(torch.save(model.state_dict())) or a dpforge run's model.pt, every parameter's name "
          "and shape checked against the model. Empty: random initialization. DP covers the "
          "training from them, so they must not depend on the private data (docs/privacy.md).",
          [](const Recipe& r) { return r.model.init(); },
          [](Recipe& r, const std::string& v) { r.model.init(v); }),
      string_key(
          "model.trainable",
          "The parameters that train, by name (e.g. 4.weight), module (4: its weight and bias), "
          "glob (4.*, *) or last (the last layer with parameters), separated by spaces or "
          "commas; the others stay at their initial weights (model.init): no per-example "
          "gradient, no noise, no update, and no backward below the lowest trainable layer. "
          "all: every parameter. dpforge summary lists the names.",
          [](const Recipe& r) { return r.model.trainable(); },
          [](Recipe& r, const std::string& v) { r.model.trainable(v); }),
      // 8192² weights (268 MB) in the second layer already; more would exhaust memory.
      int_key(
          "model.mlp_hidden", 1, 8192, "Width of each of the mlp's two hidden layers.",
          [](const Recipe& r) { return r.model.mlp_hidden(); },
          [](Recipe& r, int64_t v) { r.model.mlp_hidden(v); }),
      int_key(
          "model.embedding_dim", 0, 1024,
          "Length of each category's vector under data.categorical_encoding = embedding; 0: "
          "min(600, round(1.6 (n+1)^0.56)) for a column of n categories and its row for values "
          "outside them (fastai's rule).",
          [](const Recipe& r) { return r.model.embedding_dim(); },
          [](Recipe& r, int64_t v) { r.model.embedding_dim(v); }),
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
      enum_key(
          "train.task", data::kTaskChoiceNames,
          "multiclass (cross-entropy over K logits), binary (one logit, binary cross-entropy; "
          "AUROC reported), regression (one output; RMSE and MAE reported), or auto: inferred "
          "from the training labels and said.",
          [](const Recipe& r) { return r.train.task(); },
          [](Recipe& r, auto v) { r.train.task(v); }),
      enum_key(
          "train.regression_loss", data::kRegressionLossNames,
          "Regression loss: squared error, or Huber with threshold train.huber_delta.",
          [](const Recipe& r) { return r.train.regression_loss(); },
          [](Recipe& r, auto v) { r.train.regression_loss(v); }),
      float_key(
          "train.huber_delta", 0, true, 1e12,
          "Huber's threshold, in the units of the target as trained (standardized when "
          "data.scaling = standardize gives its mean and std).",
          [](const Recipe& r) { return r.train.huber_delta(); },
          [](Recipe& r, double v) { r.train.huber_delta(v); }),
      float_key(
          "train.label_smoothing", 0, false, 0.95,
          "Label smoothing of the cross-entropy loss (multiclass only); 0 = none (a defense to "
          "compare against DP).",
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
          "step and at the end); 0 = every train.checkpoint_seconds. Resume with dpforge train "
          "--resume <out> (it reads <out>/recipe.ini).",
          [](const Recipe& r) { return r.train.checkpoint_every(); },
          [](Recipe& r, int64_t v) { r.train.checkpoint_every(v); }),
      float_key(
          "train.checkpoint_seconds", 0, true, 86400,
          "Seconds of training between checkpoints when train.checkpoint_every = 0 (one is also "
          "written before the first step and at the end): a checkpoint costs milliseconds, so "
          "their share of the run stays small whatever a step costs.",
          [](const Recipe& r) { return r.train.checkpoint_seconds(); },
          [](Recipe& r, double v) { r.train.checkpoint_seconds(v); }),
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
      int_key(
          "privacy.public_dataset_size", 0, kMaxInt,
          "The private training set's size as a public number (a published split's size): q = "
          "batch_size / this, the steps and sigma are planned from it, never from the real count, "
          "so neighbouring datasets get the same mechanism. 0: the size is released with DP "
          "instead (privacy.size_noise_multiplier), composed in epsilon.",
          [](const Recipe& r) { return r.privacy.public_dataset_size(); },
          [](Recipe& r, int64_t v) { r.privacy.public_dataset_size(v); }),
      float_key(
          "privacy.size_noise_multiplier", 0, true, 1e6,
          "Without privacy.public_dataset_size: the training set's size N is released as N + "
          "sigma_n * Z (a Gaussian count, sensitivity 1), composed in the run's accountant, and "
          "the run is planned from that count (docs/privacy.md).",
          [](const Recipe& r) { return r.privacy.size_noise_multiplier(); },
          [](Recipe& r, double v) { r.privacy.size_noise_multiplier(v); }),
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
          "privacy.adjacency", privacy::kAdjacencyNames,
          "Which datasets the (epsilon, delta) claim calls neighbours. add_remove: one has an "
          "example the other lacks (Opacus's default; N is private: declared public, from the "
          "recipe or a DP count). replace_one: one example swapped for another (N is public by "
          "definition and used as is; a step's clipped sum moves by up to 2C, so epsilon is "
          "larger at the same sigma). replace_one needs privacy.accountant = pld.",
          [](const Recipe& r) { return r.privacy.adjacency(); },
          [](Recipe& r, auto v) { r.privacy.adjacency(v); }),
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
      float_key(
          "audit.sensitivity_rate", 0.0, false, 1.0,
          "Every private run compares, at its first step with examples and then at this fraction "
          "of its steps (auditor-seeded), 4 examples' contributions to the clipped sum with their "
          "own gradients by single-example autograd, clipped; a contribution above C or a "
          "mismatch flags the run (exit 3). 1 = every step (a debugging run); the default costs "
          "about 1% (docs/performance.md).",
          [](const Recipe& r) { return r.audit.sensitivity_rate(); },
          [](Recipe& r, double v) { r.audit.sensitivity_rate(v); }),
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
  // The data section follows the run section (documentation order).
  auto data = data_keys();
  const auto after_run = std::find_if(table.begin(), table.end(),
                                      [](const KeySpec& k) { return k.key.rfind("run.", 0) != 0; });
  table.insert(after_run, std::make_move_iterator(data.begin()),
               std::make_move_iterator(data.end()));
  return table;
}

}  // namespace

const std::vector<KeySpec>& key_table() {
  static const std::vector<KeySpec> table = make_key_table();
  return table;
}

}  // namespace dpforge::config::detail
