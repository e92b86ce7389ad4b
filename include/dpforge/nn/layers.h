// SPDX-License-Identifier: Apache-2.0
// The parameterized layers dpforge models are built from. Outside a DP step they compute exactly
// what their torch::nn counterparts compute (same initialization law, outputs and gradients); the
// DP engine knows how to take per-example gradient norms and clipped sums of each of them, so a
// model made only of these (plus parameter-free modules) can be trained privately.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "dpforge/core/options.h"

namespace dpforge::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  DPF_ARG(int64_t, in_features);
  DPF_ARG(int64_t, out_features);
  DPF_ARG(bool, bias) = true;
};

/// y = x Wᵀ + b over the last dimension; x is B x d or B x T x d.
class LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  explicit LinearImpl(LinearOptions options);
  LinearImpl(int64_t in_features, int64_t out_features)
      : LinearImpl(LinearOptions(in_features, out_features)) {}
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);

  LinearOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(Linear);

struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  DPF_ARG(int64_t, in_channels);
  DPF_ARG(int64_t, out_channels);
  DPF_ARG(int64_t, kernel_size);
  DPF_ARG(int64_t, stride) = 1;
  DPF_ARG(int64_t, padding) = 0;
  DPF_ARG(int64_t, dilation) = 1;
  DPF_ARG(bool, bias) = true;
};

/// 2-D convolution over B x C x H x W with square kernels, groups = 1.
class Conv2dImpl : public torch::nn::Cloneable<Conv2dImpl> {
 public:
  explicit Conv2dImpl(Conv2dOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);

  Conv2dOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(Conv2d);

struct GroupNormOptions {
  GroupNormOptions(int64_t num_groups, int64_t num_channels)
      : num_groups_(num_groups), num_channels_(num_channels) {}
  DPF_ARG(int64_t, num_groups);
  DPF_ARG(int64_t, num_channels);
  DPF_ARG(double, eps) = 1e-5;
  DPF_ARG(bool, affine) = true;
};

/// GroupNorm normalizes each example on its own, so unlike BatchNorm it never mixes examples.
class GroupNormImpl : public torch::nn::Cloneable<GroupNormImpl> {
 public:
  explicit GroupNormImpl(GroupNormOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);

  GroupNormOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(GroupNorm);

struct LayerNormOptions {
  explicit LayerNormOptions(std::vector<int64_t> normalized_shape)
      : normalized_shape_(std::move(normalized_shape)) {}
  DPF_ARG(std::vector<int64_t>, normalized_shape);
  DPF_ARG(double, eps) = 1e-5;
  DPF_ARG(bool, elementwise_affine) = true;
};

/// LayerNorm over the trailing `normalized_shape` dimensions of each example.
class LayerNormImpl : public torch::nn::Cloneable<LayerNormImpl> {
 public:
  explicit LayerNormImpl(LayerNormOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);

  LayerNormOptions options;
  torch::Tensor weight;
  torch::Tensor bias;
};
TORCH_MODULE(LayerNorm);

struct EmbeddingOptions {
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  DPF_ARG(int64_t, num_embeddings);
  DPF_ARG(int64_t, embedding_dim);
  /// Index whose row is never updated (and contributes nothing to gradient norms); -1: none.
  DPF_ARG(int64_t, padding_idx) = -1;
};

/// Lookup table: B x T int64 indices → B x T x D. Initialized N(0, 1) like torch.nn.Embedding.
class EmbeddingImpl : public torch::nn::Cloneable<EmbeddingImpl> {
 public:
  explicit EmbeddingImpl(EmbeddingOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& indices);

  EmbeddingOptions options;
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

}  // namespace dpforge::nn
