// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/model_summary.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include "dpforge/core/error.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layer_builder.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/trainable.h"
#include "dpforge/run/run.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"

namespace dpforge::run {
namespace {

bool directly_under(const std::string& position, const std::string& prefix) {
  return position.starts_with(prefix) && position.find('.', prefix.size()) == std::string::npos;
}

// A layer's own parameters: a residual's are its projection's (its body's layers get their rows).
void count_own(const torch::nn::Module& module, bool residual, LayerSummary& row) {
  for (const auto& item : module.named_parameters()) {
    if (residual && !item.key().starts_with("shortcut.")) continue;
    row.parameters += item.value().numel();
    row.trains = row.trains || item.value().requires_grad();
  }
}

// The built layers (a flat list, a residual followed by its body's layers) matched to the
// Sequential's modules, whose names model.trainable selects: a token-id layer is preceded by the
// parameter-free cast to int64 that append_layers inserts.
void walk(const torch::nn::Sequential& sequential, const std::string& names,
          const std::string& positions, const std::vector<nn::BuiltLayer>& built, size_t& next,
          std::vector<LayerSummary>& rows) {
  const auto children = sequential->named_children();
  size_t child = 0;
  if (names.empty() && child < children.size() && children[child].key() == "embedding") ++child;
  while (next < built.size() && directly_under(built[next].position, positions)) {
    const auto& layer = built[next++];
    if (layer.type == "embedding") ++child;  // the cast to int64 before it
    TORCH_CHECK(child < children.size(), "summary: more layers than modules");
    const auto& module = children[child++];
    LayerSummary row{names + module.key(), layer.position, layer.text, layer.output_shape};
    count_own(*module.value(), layer.type == "residual", row);
    if (layer.norm && row.trains) row.norm = std::string(dp::to_string(*layer.norm));
    rows.push_back(std::move(row));
    if (layer.type == "residual") {
      const auto& residual = *module.value()->as<nn::ResidualImpl>();
      walk(residual.body, rows.back().name + ".body.", layer.position + ".", built, next, rows);
    }
  }
}

std::vector<LayerSummary> layer_rows(const torch::nn::Sequential& model,
                                     const config::Recipe& recipe, const data::Dataset& like) {
  std::vector<LayerSummary> rows;
  const auto children = model->named_children();
  if (!children.is_empty() && children[0].key() == "embedding") {
    const auto& embedding = *children[0].value()->as<nn::TabularEmbeddingImpl>();
    LayerSummary row{
        "embedding", "", "(the categorical columns' embeddings)", {embedding.output_features()}};
    count_own(embedding, false, row);
    row.norm = std::string(dp::to_string(dp::NormMethod::kEmbedding));
    rows.push_back(std::move(row));
  }
  const auto built = nn::model_layers(recipe.model, like);
  size_t next = 0;
  walk(model, "", "", built, next, rows);
  return rows;
}

// One step of zeros on a physical batch, as a run takes it (the DP stages of dp::dp_sgd_step
// without the sampling, or the plain backward), the meter's peak from before the model exists.
int64_t measure_step(const config::Recipe& recipe, const data::Dataset& like, int64_t batch,
                     TensorMemoryMeter& meter) {
  meter.reset_peak();
  const int64_t before = meter.live_bytes();
  auto model = nn::make_model(recipe.model, like);
  model->train();
  auto shape = like.inputs.sizes().vec();
  shape[0] = batch;
  const auto examples = torch::zeros(shape, like.inputs.options());
  auto label_shape = like.labels.sizes().vec();
  label_shape[0] = batch;
  const auto labels = torch::zeros(label_shape, like.labels.options());
  const auto loss = train::task_loss(like.task, recipe.train);
  auto optimizer = train::make_optimizer(recipe.train, model->parameters());
  if (recipe.privacy.enabled()) {
    const auto trainable = dp::trainable_parameters(*model);
    dp::ClippedSum sum(trainable);
    dp::clip_and_accumulate(model, loss, examples, labels,
                            dp::ClipOptions()
                                .max_grad_norm(recipe.privacy.max_grad_norm())
                                .mode(recipe.privacy.clipping()),
                            sum);
    dp::NoiseGenerator noise(/*seed=*/0);
    const auto gradients = dp::privatize(std::move(sum), 1.0, static_cast<double>(batch), noise);
    dp::step_inner(trainable, gradients, *optimizer);
  } else {
    optimizer->zero_grad();
    train::backward_nonprivate(model, examples, labels, static_cast<double>(batch), loss);
    optimizer->step();
  }
  return meter.peak_bytes() - before;
}

}  // namespace

ModelSummary summarize_model(const config::Recipe& recipe, TensorMemoryMeter* meter) {
  const auto data = load_run_data(recipe);
  if (!data.deferred_categories.empty()) {
    std::vector<std::string> columns;
    for (const auto& column : data.deferred_categories) columns.push_back(column.name);
    throw_input_error(
        "dpforge summary: the vocabulary of {} is released under DP when a run starts, and the "
        "model's input width with it; summary makes no release: give the categories in "
        "data.stats (\"categories\": [...]) to see the model before training",
        fmt::join(columns, ", "));
  }
  const auto& like = data.train;
  ModelSummary summary;
  const auto options = nn::resolved(recipe.model, like.example_shape());
  summary.arch = nn::to_string(options.arch());
  summary.task = data::to_string(like.task);
  summary.example_shape = like.example_shape();
  summary.outputs = data::model_outputs(like.task, like.num_classes);
  const auto model = nn::make_model(recipe.model, like);
  summary.layers = layer_rows(model, recipe, like);
  summary.parameters = nn::count_all_parameters(*model);
  summary.trainable_parameters = nn::count_parameters(*model);
  summary.private_step = recipe.privacy.enabled();
  summary.physical_batch = std::min(recipe.train.max_physical_batch(), recipe.train.batch_size());
  summary.dataset_bytes = like.inputs.nbytes() + like.labels.nbytes();
  if (meter != nullptr)
    summary.step_bytes = measure_step(recipe, like, summary.physical_batch, *meter);
  return summary;
}

}  // namespace dpforge::run
