// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

namespace dpforge::data {

std::string describe(const Dataset& dataset) {
  const auto shape = dataset.example_shape();
  const std::string task = dataset.task == Task::kMulticlass
                               ? fmt::format("multiclass ({} classes)", dataset.num_classes)
                               : to_string(dataset.task);
  return shape.size() == 1 ? fmt::format("{}, {} features", task, shape[0])
                           : fmt::format("{}, {}", task, fmt::join(shape, "x"));
}

Dataset take_first(const Dataset& dataset, int64_t count) {
  if (count >= dataset.size()) return dataset;
  return dataset.with(dataset.inputs.slice(0, 0, count).contiguous(),
                      dataset.labels.slice(0, 0, count).contiguous());
}

Dataset take_random(const Dataset& dataset, int64_t count, uint64_t seed) {
  if (count >= dataset.size()) return dataset;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto chosen = std::get<0>(
      torch::randperm(dataset.size(), generator, torch::kLong).slice(0, 0, count).sort());
  return take(dataset, chosen);
}

Dataset take(const Dataset& dataset, const torch::Tensor& indices) {
  const auto on_device = indices.to(dataset.inputs.device());
  return dataset.with(dataset.inputs.index_select(0, on_device),
                      dataset.labels.index_select(0, on_device));
}

}  // namespace dpforge::data
