// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/models.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <numeric>
#include <stdexcept>

#include "dpforge/core/error.h"
#include "dpforge/nn/blocks.h"
#include "dpforge/nn/layers.h"

namespace dpforge::nn {
namespace {

// Dropout after a hidden activation, when asked for. It only zeroes activations per example, so
// the DP layers still see each example's own inputs and their per-example gradients stay exact.
void maybe_dropout(torch::nn::Sequential& model, double dropout) {
  if (dropout > 0) model->push_back(torch::nn::Dropout(torch::nn::DropoutOptions(dropout)));
}

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, " x "));
}

// Convolutional models need C x H x W examples of at least `min_side` pixels a side.
void require_image(const std::vector<int64_t>& shape, Arch arch, int64_t min_side) {
  if (shape.size() != 3) {
    throw_input_error(
        "model.arch = {} needs image examples (C x H x W), this data's examples are {}; use "
        "model.arch = mlp for tables and flat vectors",
        to_string(arch), shape_text(shape));
  }
  if (shape[1] < min_side || shape[2] < min_side) {
    throw_input_error(
        "model.arch = {} needs images of at least {} x {} pixels, this data's are {} x {}; use "
        "model.arch = mlp (or wrn16_4) for smaller images",
        to_string(arch), min_side, min_side, shape[1], shape[2]);
  }
}

// Side after a convolution or pooling with kernel k, stride s and padding p.
int64_t out_side(int64_t side, int64_t k, int64_t s, int64_t p = 0) {
  return (side + 2 * p - k) / s + 1;
}

torch::nn::Sequential make_mlp(int64_t in_features, int64_t hidden, int64_t num_classes,
                               double dropout, TabularEmbedding embedding = nullptr) {
  torch::nn::Sequential model;
  if (embedding) {
    in_features = embedding->output_features();
    model->push_back("embedding", embedding);
  }
  model->push_back(torch::nn::Flatten());
  model->push_back(Linear(in_features, hidden));
  model->push_back(torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(hidden, hidden));
  model->push_back(torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(hidden, num_classes));
  return model;
}

torch::nn::Sequential make_cnn_tanh(const std::vector<int64_t>& shape, int64_t num_classes,
                                    double dropout) {
  using torch::nn::MaxPool2dOptions;
  // conv, pool, conv, pool: 28 → 13 → 12 → 5 → 4 for Fashion-MNIST (32·4·4 = 512 features).
  auto side = [](int64_t s) {
    return out_side(out_side(out_side(out_side(s, 8, 2, 2), 2, 1), 4, 2), 2, 1);
  };
  const int64_t features = 32 * side(shape[1]) * side(shape[2]);
  torch::nn::Sequential model(Conv2d(Conv2dOptions(shape[0], 16, 8).stride(2).padding(2)),
                              torch::nn::Tanh(),
                              torch::nn::MaxPool2d(MaxPool2dOptions(2).stride(1)),
                              Conv2d(Conv2dOptions(16, 32, 4).stride(2)), torch::nn::Tanh(),
                              torch::nn::MaxPool2d(MaxPool2dOptions(2).stride(1)),
                              torch::nn::Flatten(), Linear(features, 32), torch::nn::Tanh());
  maybe_dropout(model, dropout);
  model->push_back(Linear(32, num_classes));
  return model;
}

torch::nn::Sequential make_wrn16_4(int64_t in_channels, int64_t num_classes) {
  constexpr int64_t kBlocksPerGroup = 2;  // (depth 16 - 4) / 6
  constexpr int64_t kWidth = 4;
  torch::nn::Sequential model;
  model->push_back("stem", Conv2d(Conv2dOptions(in_channels, 16, 3).padding(1)));
  int64_t channels = 16;
  const int64_t widths[] = {16 * kWidth, 32 * kWidth, 64 * kWidth};
  const int64_t strides[] = {1, 2, 2};
  for (int group = 0; group < 3; ++group) {
    for (int64_t block = 0; block < kBlocksPerGroup; ++block) {
      model->push_back(fmt::format("group{}_block{}", group, block),
                       WideBlock(channels, widths[group], block == 0 ? strides[group] : 1));
      channels = widths[group];
    }
  }
  model->push_back("final_norm", GroupNorm(GroupNormOptions(WideBlockImpl::kGroups, channels)));
  model->push_back("final_relu", torch::nn::ReLU());
  model->push_back("pool", torch::nn::AdaptiveAvgPool2d(1));
  model->push_back("flatten", torch::nn::Flatten());
  model->push_back("classifier", Linear(channels, num_classes));
  return model;
}

}  // namespace

torch::nn::Sequential make_model(const ModelOptions& options, const std::vector<int64_t>& shape,
                                 int64_t outputs) {
  switch (options.arch()) {
    case Arch::kMlp: {
      const int64_t features =
          std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
      return make_mlp(features, options.mlp_hidden(), outputs, options.dropout());
    }
    case Arch::kCnnTanh:
      require_image(shape, options.arch(), 16);
      return make_cnn_tanh(shape, outputs, options.dropout());
    case Arch::kWrn16_4:
      require_image(shape, options.arch(), 4);
      return make_wrn16_4(shape[0], outputs);
  }
  throw std::invalid_argument("make_model: unknown architecture");
}

torch::nn::Sequential make_model(const ModelOptions& options, int64_t num_classes) {
  return make_model(options, {1, 28, 28}, num_classes);
}

torch::nn::Sequential make_model(const ModelOptions& options, const data::Dataset& like) {
  const auto outputs = data::model_outputs(like.task, like.num_classes);
  if (like.category_codes.empty()) return make_model(options, like.example_shape(), outputs);
  if (options.arch() != Arch::kMlp) {
    throw_input_error(
        "data.categorical_encoding = embedding puts a DP Embedding in front of the mlp; "
        "model.arch = {} takes images: use model.arch = mlp (or one_hot encoding)",
        to_string(options.arch()));
  }
  std::vector<EmbeddedFeature> embedded;
  for (const auto& column : like.category_codes) {
    const int64_t dim = options.embedding_dim() > 0 ? options.embedding_dim()
                                                    : default_embedding_dim(column.categories + 1);
    embedded.push_back({column.feature, column.categories, dim});
  }
  return make_mlp(0, options.mlp_hidden(), outputs, options.dropout(),
                  TabularEmbedding(like.example_shape().at(0), std::move(embedded)));
}

int64_t count_parameters(const torch::nn::Module& model) {
  int64_t total = 0;
  for (const auto& parameter : model.parameters()) {
    if (parameter.requires_grad()) total += parameter.numel();
  }
  return total;
}

}  // namespace dpforge::nn
