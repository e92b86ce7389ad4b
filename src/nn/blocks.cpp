// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/blocks.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dpforge::nn {

TabularEmbeddingImpl::TabularEmbeddingImpl(int64_t features, std::vector<EmbeddedFeature> embedded)
    : features_(features), embedded_(std::move(embedded)) {
  for (size_t j = 0; j < embedded_.size(); ++j) {
    const auto& column = embedded_[j];
    const bool ordered = j == 0 || embedded_[j - 1].feature < column.feature;
    if (!ordered || column.feature < 0 || column.feature >= features_ || column.categories < 0 ||
        column.dim < 1) {
      throw std::invalid_argument("TabularEmbedding: features must be increasing and in range");
    }
  }
  reset();
}

void TabularEmbeddingImpl::reset() {
  tables.clear();
  for (size_t j = 0; j < embedded_.size(); ++j) {
    tables.push_back(register_module(
        fmt::format("table{}", j),
        Embedding(EmbeddingOptions(embedded_[j].categories + 1, embedded_[j].dim))));
  }
}

torch::Tensor TabularEmbeddingImpl::forward(const torch::Tensor& input) {
  std::vector<torch::Tensor> parts;
  int64_t next = 0;  // the first feature not yet passed on
  for (size_t j = 0; j < embedded_.size(); ++j) {
    const int64_t feature = embedded_[j].feature;
    parts.push_back(input.slice(1, next, feature));
    const auto codes = input.select(1, feature).to(torch::kLong).unsqueeze(1);  // B x 1
    parts.push_back(tables[j]->forward(codes).squeeze(1));
    next = feature + 1;
  }
  parts.push_back(input.slice(1, next, features_));
  return torch::cat(parts, 1);
}

int64_t TabularEmbeddingImpl::output_features() const {
  int64_t width = features_;
  for (const auto& column : embedded_) width += column.dim - 1;
  return width;
}

int64_t default_embedding_dim(int64_t codes) {
  const double rule = std::round(1.6 * std::pow(static_cast<double>(codes), 0.56));
  return std::clamp<int64_t>(static_cast<int64_t>(rule), 1, 600);
}

}  // namespace dpforge::nn
