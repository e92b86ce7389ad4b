// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/dp_vocabulary.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "dpforge/core/random.h"
#include "dpforge/privacy/log_math.h"

namespace dpforge::data {

double vocabulary_threshold(double noise_std, size_t columns, double release_probability) {
  if (!(release_probability > 0 && release_probability < 1) || columns == 0 || !(noise_std > 0))
    throw std::invalid_argument("vocabulary_threshold: needs p in (0, 1), columns, noise > 0");
  // Φ((τ − 1)/s)^k = 1 − p, so each of the k values passes with tail q = 1 − (1 − p)^{1/k};
  // computed as −expm1(log1p(−p)/k) and Φ⁻¹ of the small tail, which keeps its digits.
  const double tail = -std::expm1(std::log1p(-release_probability) / static_cast<double>(columns));
  return 1.0 - noise_std * privacy::normal_quantile(tail);
}

double vocabulary_delta(double release_probability) { return -std::log1p(-release_probability); }

std::string describe_vocabulary_release(size_t columns) {
  return fmt::format(
      "category vocabularies of {} columns (noisy counts of the values seen, kept above a "
      "threshold; one Gaussian release plus the threshold's delta)",
      columns);
}

VocabularyRelease dp_vocabulary(Dataset& train, const std::vector<Dataset*>& others,
                                const std::vector<DeferredCategorical>& columns,
                                double noise_multiplier, double release_probability, uint64_t seed,
                                CategoricalEncoding encoding) {
  VocabularyRelease release;
  const size_t k = columns.size();
  release.what = describe_vocabulary_release(k);
  release.noise_multiplier = noise_multiplier;
  release.sensitivity = std::sqrt(static_cast<double>(k));
  if (k == 0) return release;
  const double noise_std = noise_multiplier * release.sensitivity;
  release.threshold = vocabulary_threshold(noise_std, k, release_probability);
  release.delta = vocabulary_delta(release_probability);
  PhiloxUniform uniform(seed);
  for (const auto& column : columns) {
    release.columns.push_back(column.name);
    const auto codes = train.inputs.select(1, column.feature).to(torch::kLong);
    const auto counts =
        torch::bincount(codes, {}, static_cast<int64_t>(column.values.size())).to(torch::kDouble);
    const auto* count = counts.data_ptr<double>();
    std::vector<std::string> kept;
    // Only values the training split holds are candidates (the others have no count to noise);
    // one noise draw per candidate, in code order, the columns one after another in one stream.
    for (size_t code = 0; code < column.values.size(); ++code) {
      if (count[code] == 0) continue;
      if (count[code] + noise_std * secure_standard_normal(uniform) > release.threshold)
        kept.push_back(column.values[code]);
    }
    std::sort(kept.begin(), kept.end());  // the private rows' order is not released
    release.vocabularies.push_back(std::move(kept));
  }
  encode_categories(train, columns, release.vocabularies, encoding);
  for (auto* other : others) encode_categories(*other, columns, release.vocabularies, encoding);
  return release;
}

namespace {

// Code → position in the column's sorted vocabulary, −1 for a value outside it.
torch::Tensor vocabulary_positions(const DeferredCategorical& column,
                                   const std::vector<std::string>& vocabulary) {
  std::vector<int64_t> position(column.values.size(), -1);
  for (size_t code = 0; code < column.values.size(); ++code) {
    const auto found = std::lower_bound(vocabulary.begin(), vocabulary.end(), column.values[code]);
    if (found != vocabulary.end() && *found == column.values[code])
      position[code] = found - vocabulary.begin();
  }
  return torch::tensor(position, torch::kLong);
}

void one_hot_columns(Dataset& dataset, const std::vector<DeferredCategorical>& columns,
                     const std::vector<std::vector<std::string>>& vocabularies) {
  const int64_t width = dataset.inputs.size(1);
  std::vector<torch::Tensor> parts;
  int64_t next = 0;  // the first feature not yet copied
  for (size_t j = 0; j < columns.size(); ++j) {
    const auto& column = columns[j];
    parts.push_back(dataset.inputs.slice(1, next, column.feature));
    const auto codes = dataset.inputs.select(1, column.feature).to(torch::kLong);
    const auto at =
        vocabulary_positions(column, vocabularies[j]).to(codes.device()).index_select(0, codes);
    auto one_hot = torch::zeros({dataset.size(), static_cast<int64_t>(vocabularies[j].size()) + 1},
                                torch::kFloat32);
    one_hot.scatter_(1, (at + 1).unsqueeze(1), 1.0F);
    parts.push_back(one_hot.slice(1, 1));  // column 0 took the values outside the vocabulary
    next = column.feature + 1;
  }
  parts.push_back(dataset.inputs.slice(1, next, width));
  dataset.inputs = torch::cat(parts, 1).contiguous();
}

void code_columns(Dataset& dataset, const std::vector<DeferredCategorical>& columns,
                  const std::vector<std::vector<std::string>>& vocabularies) {
  // A copy: splits may share storage (a validation split sliced off the training one).
  auto inputs = dataset.inputs.clone();
  for (size_t j = 0; j < columns.size(); ++j) {
    const auto& column = columns[j];
    const auto codes = inputs.select(1, column.feature).to(torch::kLong);
    const auto at =
        vocabulary_positions(column, vocabularies[j]).to(codes.device()).index_select(0, codes);
    inputs.select(1, column.feature).copy_(at + 1);
    dataset.category_codes.push_back(
        {column.feature, static_cast<int64_t>(vocabularies[j].size()), column.name});
  }
  std::sort(dataset.category_codes.begin(), dataset.category_codes.end(),
            [](const auto& a, const auto& b) { return a.feature < b.feature; });
  dataset.inputs = std::move(inputs);
}

}  // namespace

void encode_categories(Dataset& dataset, const std::vector<DeferredCategorical>& columns,
                       const std::vector<std::vector<std::string>>& vocabularies,
                       CategoricalEncoding encoding) {
  if (!dataset.inputs.defined() || columns.empty()) return;
  if (vocabularies.size() != columns.size())
    throw std::invalid_argument("encode_categories: one vocabulary per column");
  if (encoding == CategoricalEncoding::kOneHot) {
    one_hot_columns(dataset, columns, vocabularies);
  } else {
    code_columns(dataset, columns, vocabularies);
  }
}

}  // namespace dpforge::data
