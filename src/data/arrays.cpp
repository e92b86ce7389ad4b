// SPDX-License-Identifier: Apache-2.0
// NumPy and IDX arrays → examples: shape, layout, the fixed pixel map and the public scaling.
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "dpforge/core/error.h"
#include "src/data/raw_split.h"

namespace dpforge::data::detail {
namespace {

// Public "inputs" statistics give a range but no mean and std, and DP statistics may fill them in.
bool inputs_deferred(const SourceOptions& options) {
  const auto* stats =
      options.stats != nullptr && options.stats->inputs ? &*options.stats->inputs : nullptr;
  return options.defer_standardization && options.scaling == Scaling::kStandardize &&
         stats != nullptr && stats->min && stats->max && !(stats->mean && stats->std);
}

// Array inputs as float32 N x F or N x C x H x W; bytes are pixels, mapped to [0, 1] as
// Fashion-MNIST's are (a fixed map, not a statistic).
torch::Tensor array_inputs(torch::Tensor x, const SourceOptions& options, const std::string& name) {
  if (x.dim() < 2 || x.dim() > 4) {
    throw_input_error(
        "{}: inputs have shape [{}]; expected N x features, N x H x W or a "
        "4-D image array (data.layout = nchw|nhwc)",
        name, fmt::join(x.sizes(), ", "));
  }
  // uint8 means pixels; a bool array is already 0/1.
  const bool pixels = x.scalar_type() == torch::kUInt8;
  x = x.to(torch::kFloat32);
  if (pixels) x.div_(255.0);
  if (!torch::isfinite(x).all().item<bool>()) {
    throw_input_error(
        "{}: inputs hold NaN or infinite values (at example {}); clean them in "
        "Python before exporting",
        name, torch::isfinite(x).logical_not().flatten(1).any(1).nonzero()[0].item<int64_t>());
  }
  if (x.dim() == 3) x = x.unsqueeze(1);
  if (x.dim() == 4 && options.layout == Layout::kNhwc) x = x.permute({0, 3, 1, 2});
  if (options.scaling != Scaling::kNone && !inputs_deferred(options)) {
    const auto scaler = detail::column_scaler(
        options.scaling,
        options.stats != nullptr && options.stats->inputs ? &*options.stats->inputs : nullptr,
        "inputs", options);
    if (scaler.clamp) x.clamp_(scaler.shift, scaler.shift + scaler.scale);
    x.sub_(scaler.shift).div_(scaler.scale);
  }
  return x.contiguous();
}

}  // namespace

RawSplit array_split(torch::Tensor x, torch::Tensor y, const SourceOptions& options,
                     const std::string& name) {
  if (y.dim() == 2 && y.size(1) == 1) y = y.squeeze(1);
  if (y.dim() != 1) {
    throw_input_error("{}: labels have shape [{}]; expected one label per example (N or N x 1)",
                      name, fmt::join(y.sizes(), ", "));
  }
  if (x.dim() == 0 || x.size(0) != y.size(0)) {
    throw_input_error("{}: {} inputs but {} labels; x and y must have one row per example", name,
                      x.dim() == 0 ? 0 : x.size(0), y.size(0));
  }
  if (y.size(0) == 0) throw_input_error("{}: no examples", name);
  RawSplit split;
  split.name = name;
  split.inputs = array_inputs(std::move(x), options, name);
  if (inputs_deferred(options)) {
    const auto& range = *options.stats->inputs;
    if (!(*range.max > *range.min))
      throw_input_error("{}: inputs.max must be > inputs.min", options.stats->source);
    split.deferred.push_back({0, "(inputs)", *range.min, *range.max, StatisticOf::kAllInputs});
  }
  split.targets = y.to(torch::kFloat64);
  if (!torch::isfinite(split.targets).all().item<bool>())
    throw_input_error("{}: labels hold NaN or infinite values", name);
  return split;
}

}  // namespace dpforge::data::detail
