// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/per_sample.h"

#include <torch/torch.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "src/dp/device_ops.h"

namespace dpforge::dp {
namespace {

namespace F = torch::nn::functional;

// im2col as one strided copy: B x T x (k·k·C), rows = output positions. The columns are in
// (kh, kw, c) order, not the weight's (c, kh, kw): read from a channels-last copy, each row is a
// few runs of C·k contiguous floats, which copies 2-4x faster than 1·k runs from NCHW (ghost norms
// do not depend on the column order; per-example gradients are permuted by to_weight_layout).
torch::Tensor unfold_rows(const torch::Tensor& input, int64_t k, int64_t stride, int64_t padding,
                          int64_t dilation) {
  auto padded =
      padding > 0 ? F::pad(input, F::PadFuncOptions({padding, padding, padding, padding})) : input;
  const auto x = padded.permute({0, 2, 3, 1}).contiguous();  // B x H x W x C
  const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const int64_t h_out = (h - dilation * (k - 1) - 1) / stride + 1;
  const int64_t w_out = (w - dilation * (k - 1) - 1) / stride + 1;
  const auto st = x.strides();
  return x
      .as_strided({b, h_out, w_out, k, k, c},
                  {st[0], st[1] * stride, st[2] * stride, st[1] * dilation, st[2] * dilation, 1})
      .reshape({b, h_out * w_out, k * k * c});
}

// Per-example gradients B x p x (k·k·C) in unfold_rows' column order → the weight's (C, k, k).
torch::Tensor to_weight_layout(const torch::Tensor& columns_last, const torch::Tensor& weight) {
  const int64_t b = columns_last.size(0), p = weight.size(0), c = weight.size(1),
                k = weight.size(2);
  return columns_last.reshape({b, p, k, k, c}).permute({0, 1, 4, 2, 3}).reshape({b, p, c * k * k});
}

// The convolution's own weight gradient for (output gradient, input): for c ⊙ G over the batch it
// is the clipped sum Σᵢ cᵢ∇Wᵢ (book-keeping without im2col), for one example its ∇Wᵢ.
torch::Tensor conv_weight_grad(const LayerRecord& record, const torch::Tensor& output_grad,
                               const torch::Tensor& input) {
  const int64_t s = record.stride, pad = record.padding, dil = record.dilation;
  return std::get<1>(at::convolution_backward(output_grad, input, record.weight, std::nullopt,
                                              {s, s}, {pad, pad}, {dil, dil}, /*transposed=*/false,
                                              {0, 0}, /*groups=*/1, {false, true, false}));
}

// Per-example work (multiply-adds of one example's weight gradient) above which a materialized
// Conv2d layer loops over examples with the convolution's own weight-gradient kernel instead of
// unfolding the whole batch: each call is then big enough to run at full speed, and the B x T x d
// im2col copy — slower than the GEMM it feeds for wide layers — is never made.
constexpr int64_t kLoopMacsPerExample = int64_t{1} << 22;

// im2col rows are made for at most this many floats (8 MiB) at a time: enough examples per chunk
// for efficient GEMMs, small enough that the rows stay in cache and never dominate peak memory.
constexpr int64_t kUnfoldChunkFloats = int64_t{1} << 21;

torch::Tensor broadcast_per_example(const torch::Tensor& factors, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return factors.to(like.dtype()).view(shape);
}

// Σᵢ cᵢ (Gᵢᵀ Aᵢ) is bilinear: c may scale either factor, so scale the smaller one (fewer floats
// copied; a Linear 128 -> 512 layer scales its B x T x 128 input, not its B x T x 512 G).
std::pair<torch::Tensor, torch::Tensor> scale_smaller(const torch::Tensor& a,
                                                      const torch::Tensor& g,
                                                      const torch::Tensor& clip_factors) {
  if (a.numel() <= g.numel()) return {ops::scale_rows(a, clip_factors), g};
  return {a, ops::scale_rows(g, clip_factors)};
}

}  // namespace

std::string_view to_string(NormMethod method) {
  switch (method) {
    case NormMethod::kDirect:
      return "T = 1";
    case NormMethod::kGhost:
      return "ghost";
    case NormMethod::kMaterialized:
      return "materialized";
    case NormMethod::kByExample:
      return "by example";
    case NormMethod::kNormStatistics:
      return "per-example statistics";
    case NormMethod::kEmbedding:
      return "embedding rows";
  }
  return "unknown";
}

NormMethod linear_norm_method(int64_t tokens, int64_t in_features, int64_t out_features) {
  const int64_t d = in_features, p = out_features;
  // Ghost iff T·(p + d) ≤ p·d. Both sides of the choice agree on it: per example the ghost
  // norm costs T²(p + d) multiply-adds against the materialized T·p·d, and keeps Aᵢ and Gᵢ
  // (T·(d + p) floats) for the clipped sum against the materialized p·d (A and G are then
  // freed during the backward). Bu et al.'s 2T² ≤ p·d weighed the Gram matrices against ∇Wᵢ
  // with G held anyway; it kept token_block's 128 -> 512 layers ghost up to T = 181, where
  // ghost cost 1.6x and materialization 1.2x.
  if (tokens == 1) return NormMethod::kDirect;
  return tokens * (p + d) <= p * d ? NormMethod::kGhost : NormMethod::kMaterialized;
}

NormMethod conv_norm_method(int64_t positions, int64_t in_channels, int64_t out_channels,
                            int64_t kernel) {
  const int64_t t = positions, p = out_channels, d = in_channels * kernel * kernel;
  // Bu et al.'s mixed rule (ghost: two T x T Gram matrices per example; materialized: a p x d
  // gradient), with the im2col rows the ghost norm needs counted too (T·d): wide layers with
  // large T are then materialized, which is also faster (wrn16_4: 1.50x -> 1.29x). Unlike
  // Linear's rule it does not yet count the A and G a ghost layer keeps for its clipped sum;
  // for this project's models both counts choose the same.
  if (t > 1 && 2 * t * t + t * d <= p * d) return NormMethod::kGhost;
  if (t * p * d >= kLoopMacsPerExample) return NormMethod::kByExample;
  return t == 1 ? NormMethod::kDirect : NormMethod::kMaterialized;
}

PerSampleLayer::PerSampleLayer(const LayerRecord& record, const torch::Tensor& output_grad)
    : record_(record), batch_(record.input.size(0)) {
  switch (record.kind) {
    case LayerKind::kLinear:
      prepare_linear(output_grad);
      break;
    case LayerKind::kConv2d:
      prepare_conv(output_grad);
      break;
    case LayerKind::kGroupNorm: {
      method_ = NormMethod::kNormStatistics;
      // ∇γᵢ = Σ_hw x̂ᵢ ⊙ gᵢ, ∇βᵢ = Σ_hw gᵢ: B x C each, all that is kept.
      const int64_t channels = record.weight.numel();
      const auto normalized = torch::group_norm(record.input, record.groups, {}, {}, record.eps);
      per_example_ = (normalized * output_grad).reshape({batch_, channels, -1}).sum(2);
      per_example_bias_ = output_grad.reshape({batch_, channels, -1}).sum(2);
      break;
    }
    case LayerKind::kLayerNorm: {
      method_ = NormMethod::kNormStatistics;
      const int64_t features = record.weight.numel();
      const auto normalized =
          torch::layer_norm(record.input, record.weight.sizes(), {}, {}, record.eps);
      per_example_ = (normalized * output_grad).reshape({batch_, -1, features}).sum(1);
      per_example_bias_ = output_grad.reshape({batch_, -1, features}).sum(1);
      break;
    }
    case LayerKind::kEmbedding:
      method_ = NormMethod::kEmbedding;
      activations_ = record.input;
      output_grad_ = output_grad;
      break;
  }
}

void PerSampleLayer::prepare_linear(const torch::Tensor& output_grad) {
  const int64_t d = record_.weight.size(1), p = record_.weight.size(0);
  const auto a = record_.input.reshape({batch_, -1, d});
  const auto g = output_grad.reshape({batch_, -1, p});
  tokens_ = a.size(1);
  method_ = linear_norm_method(tokens_, d, p);
  if (record_.bias.defined()) per_example_bias_ = tokens_ == 1 ? g.squeeze(1) : g.sum(1);
  if (method_ == NormMethod::kMaterialized) {
    // Materialized now, so that neither A nor G outlives the backward step that produced G;
    // the clipped sum is then a c-weighted sum of these rows, not a second GEMM.
    per_example_ = torch::bmm(g.transpose(1, 2), a);
  } else {
    activations_ = a;
    output_grad_ = g;
  }
}

void PerSampleLayer::prepare_conv(const torch::Tensor& output_grad) {
  const int64_t k = record_.weight.size(2), p = record_.weight.size(0), c = record_.weight.size(1);
  const int64_t h = record_.input.size(2) + 2 * record_.padding,
                w = record_.input.size(3) + 2 * record_.padding;
  const int64_t t = ((h - record_.dilation * (k - 1) - 1) / record_.stride + 1) *
                    ((w - record_.dilation * (k - 1) - 1) / record_.stride + 1);
  const int64_t d = c * k * k;
  tokens_ = t;
  method_ = conv_norm_method(t, c, p, k);
  if (record_.bias.defined()) per_example_bias_ = output_grad.sum({2, 3});
  if (method_ == NormMethod::kByExample) {
    // Per example, the clipped sum needs either ∇Wᵢ (p·d floats) or Aᵢ and Gᵢ (for one
    // weight-gradient call on c ⊙ G over the batch): keep whichever is smaller. Wide layers at
    // moderate resolution keep A and G (wrn16_4's 128 -> 128 layers on 14 x 14: 50k floats
    // against 147k), at the cost of that one batched call.
    const int64_t kept_for_sum = c10::multiply_integers(record_.input.sizes().slice(1)) +
                                 c10::multiply_integers(output_grad.sizes().slice(1));
    conv_by_example(output_grad, /*keep_gradients=*/kept_for_sum >= p * d);
    return;
  }
  // The im2col rows live only while this layer's norms are computed, a chunk of examples at a
  // time: what outlives the constructor is a B-vector of norms (with A and G for the clipped
  // sum, which comes from the convolution's weight-gradient kernel and needs no rows) or the
  // B x p x d per-example gradients.
  const int64_t chunk = std::max<int64_t>(1, kUnfoldChunkFloats / (t * d));
  const bool materialize = method_ == NormMethod::kMaterialized;
  if (materialize) {
    per_example_ = torch::empty({batch_, p, d}, output_grad.options());
  } else {
    conv_weight_norms_ = torch::empty({batch_}, output_grad.options());
    activations_ = record_.input;
    output_grad_ = output_grad;  // B x p x H_out x W_out
  }
  for (int64_t first = 0; first < batch_; first += chunk) {
    const int64_t n = std::min(chunk, batch_ - first);
    const auto a = unfold_rows(record_.input.narrow(0, first, n), k, record_.stride,
                               record_.padding, record_.dilation);
    const auto g = output_grad.narrow(0, first, n).reshape({n, p, -1}).transpose(1, 2).contiguous();
    if (t == 1) {
      conv_weight_norms_.narrow(0, first, n)
          .copy_(ops::row_squared_norms(a) * ops::row_squared_norms(g));
    } else if (method_ == NormMethod::kGhost) {
      conv_weight_norms_.narrow(0, first, n).copy_(ops::ghost_squared_norms(a, g));
    } else {
      per_example_.narrow(0, first, n)
          .copy_(to_weight_layout(torch::bmm(g.transpose(1, 2), a), record_.weight));
    }
  }
}

void PerSampleLayer::conv_by_example(const torch::Tensor& output_grad, bool keep_gradients) {
  const int64_t p = record_.weight.size(0);
  if (keep_gradients) {
    per_example_ = torch::empty({batch_, p, record_.weight[0].numel()}, output_grad.options());
  } else {
    conv_weight_norms_ = torch::empty({batch_}, output_grad.options());
    activations_ = record_.input;
    output_grad_ = output_grad;
  }
  for (int64_t i = 0; i < batch_; ++i) {
    const auto grad =
        conv_weight_grad(record_, output_grad.narrow(0, i, 1), record_.input.narrow(0, i, 1));
    if (keep_gradients) {
      per_example_[i].copy_(grad.reshape({p, -1}));
    } else {
      conv_weight_norms_.narrow(0, i, 1).copy_(grad.square().sum().reshape({1}));
    }
  }
}

std::vector<torch::Tensor> PerSampleLayer::parameters() const {
  std::vector<torch::Tensor> parameters = {record_.weight};
  if (record_.bias.defined()) parameters.push_back(record_.bias);
  return parameters;
}

void PerSampleLayer::drop_examples(const torch::Tensor& keep) {
  const auto zero_dropped = [&](torch::Tensor& per_example) {
    if (!per_example.defined()) return;
    per_example = torch::where(broadcast_per_example(keep, per_example).to(torch::kBool),
                               per_example, torch::zeros_like(per_example));
  };
  if (record_.kind != LayerKind::kEmbedding) zero_dropped(activations_);  // indices stay valid
  zero_dropped(output_grad_);
  zero_dropped(per_example_);
  zero_dropped(per_example_bias_);
}

torch::Tensor PerSampleLayer::squared_norms() const {
  const auto& a = activations_;
  const auto& g = output_grad_;
  torch::Tensor squared;
  if (per_example_.defined()) {
    squared = ops::row_squared_norms(per_example_);
  } else if (record_.kind == LayerKind::kConv2d) {
    squared = conv_weight_norms_;
  } else if (record_.kind == LayerKind::kLinear) {
    squared = tokens_ == 1 ? ops::row_squared_norms(a) * ops::row_squared_norms(g)
                           : ops::ghost_squared_norms(a, g);
  } else {
    TORCH_CHECK(record_.kind == LayerKind::kEmbedding, "unknown layer kind");
    const auto indices = a.reshape({batch_, -1});
    auto grads = g.reshape({batch_, indices.size(1), -1});
    if (record_.padding_idx >= 0) {
      grads = grads * indices.ne(record_.padding_idx).unsqueeze(2).to(grads.dtype());
    }
    const auto same = indices.unsqueeze(2).eq(indices.unsqueeze(1)).to(grads.dtype());
    squared = (same * torch::bmm(grads, grads.transpose(1, 2))).sum({1, 2}).clamp_min(0);
  }
  if (per_example_bias_.defined()) squared = squared + ops::row_squared_norms(per_example_bias_);
  return squared;
}

std::vector<torch::Tensor> PerSampleLayer::clipped_sums(const torch::Tensor& clip_factors) const {
  std::vector<torch::Tensor> sums;
  if (per_example_.defined()) {
    sums.push_back(ops::weighted_row_sum(clip_factors, per_example_).view(record_.weight.sizes()));
  } else if (record_.kind == LayerKind::kConv2d) {
    const auto [a, g] = scale_smaller(activations_, output_grad_, clip_factors);
    sums.push_back(conv_weight_grad(record_, g, a));
  } else if (record_.kind == LayerKind::kLinear) {
    // Σᵢ cᵢ Gᵢᵀ Aᵢ over all B·T rows: one GEMM, no per-example weight tensor.
    const auto [a, g] = scale_smaller(activations_, output_grad_, clip_factors);
    sums.push_back(
        g.reshape({-1, g.size(2)}).t().mm(a.reshape({-1, a.size(2)})).view(record_.weight.sizes()));
  } else {
    const int64_t dim = record_.weight.size(1);
    auto rows = ops::scale_rows(output_grad_, clip_factors).reshape({-1, dim});
    const auto indices = activations_.reshape({-1});
    if (record_.padding_idx >= 0) {
      rows = rows * indices.ne(record_.padding_idx).unsqueeze(1).to(rows.dtype());
    }
    sums.push_back(torch::zeros_like(record_.weight).index_add_(0, indices, rows));
  }
  if (per_example_bias_.defined()) {
    sums.push_back(
        ops::weighted_row_sum(clip_factors, per_example_bias_).view(record_.bias.sizes()));
  }
  return sums;
}

std::vector<PerSampleLayer> per_sample_layers(GradTape& tape, const torch::Tensor& loss) {
  std::vector<std::optional<PerSampleLayer>> layers(tape.records().size());
  tape.backward(
      loss,
      [&](size_t l, const torch::Tensor& output_grad) {
        layers[l].emplace(tape.records()[l], output_grad);
      },
      /*release_inputs=*/true);
  std::vector<PerSampleLayer> result;
  result.reserve(layers.size());
  for (auto& layer : layers) result.push_back(std::move(*layer));
  return result;
}

}  // namespace dpforge::dp
