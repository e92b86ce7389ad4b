// SPDX-License-Identifier: Apache-2.0
// Composite blocks of DP layers.
#pragma once
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "dpforge/nn/layers.h"

namespace dpforge::nn {

/// A feature holding category codes 0..categories, and the length of its categories' vectors.
struct EmbeddedFeature {
  int64_t feature = 0;
  int64_t categories = 0;
  int64_t dim = 0;
};

/// Categorical features as learned vectors (data.categorical_encoding = embedding): each listed
/// feature's code c picks row c of its own DP Embedding (categories + 1 rows), the other features
/// pass unchanged, all in their order: B x F → B x output_features(). Each column has its own
/// table, so one example touches one row per table and the T = 1 norm applies.
class TabularEmbeddingImpl : public torch::nn::Cloneable<TabularEmbeddingImpl> {
 public:
  /// `embedded` in increasing feature order, each below `features`.
  TabularEmbeddingImpl(int64_t features, std::vector<EmbeddedFeature> embedded);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);
  int64_t output_features() const;

  std::vector<Embedding> tables;

 private:
  int64_t features_;
  std::vector<EmbeddedFeature> embedded_;
};
TORCH_MODULE(TabularEmbedding);

/// min(600, round(1.6 n^0.56)) for n codes (fastai's rule of thumb for tabular embeddings).
int64_t default_embedding_dim(int64_t codes);

}  // namespace dpforge::nn
