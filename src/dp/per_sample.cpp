// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/per_sample.h"

#include <torch/torch.h>

namespace dpforge::dp {
namespace {

namespace F = torch::nn::functional;

// Rows of per-example sums over every dimension but the first.
torch::Tensor per_example_sum_of_squares(const torch::Tensor& x) {
  return x.reshape({x.size(0), -1}).square().sum(1);
}

// im2col as one strided copy: B x T x (C·k·k), rows = output positions, columns in the order of
// the weight's (C, k, k) (F::unfold then a transpose costs ~3x more on CPU).
torch::Tensor unfold_rows(const torch::Tensor& input, int64_t k, int64_t stride, int64_t padding,
                          int64_t dilation) {
  auto x = padding > 0 ? F::pad(input, F::PadFuncOptions({padding, padding, padding, padding}))
                       : input.contiguous();
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t h_out = (h - dilation * (k - 1) - 1) / stride + 1;
  const int64_t w_out = (w - dilation * (k - 1) - 1) / stride + 1;
  const auto st = x.strides();
  return x.as_strided({b, h_out, w_out, c, k, k},
                      {st[0], st[2] * stride, st[3] * stride, st[1], st[2] * dilation, st[3] * dilation})
      .reshape({b, h_out * w_out, c * k * k});
}

torch::Tensor broadcast_per_example(const torch::Tensor& factors, const torch::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = like.size(0);
  return factors.to(like.dtype()).view(shape);
}

}  // namespace

PerSampleLayer::PerSampleLayer(const LayerRecord& record, torch::Tensor output_grad)
    : record_(record) {
  const int64_t batch = record.input.size(0);
  switch (record.kind) {
    case LayerKind::kLinear: {
      const int64_t d = record.weight.size(1), p = record.weight.size(0);
      activations_ = record.input.reshape({batch, -1, d});
      output_grad_ = output_grad.reshape({batch, -1, p});
      const int64_t t = activations_.size(1);
      ghost_ = t > 1 && 2 * t * t <= p * d;
      break;
    }
    case LayerKind::kConv2d: {
      const int64_t k = record.weight.size(2), p = record.weight.size(0);
      // im2col: B x (C_in·k²) x T, then rows per output position.
      activations_ = unfold_rows(record.input, k, record.stride, record.padding, record.dilation);
      output_grad_ = output_grad.reshape({batch, p, -1}).transpose(1, 2).contiguous();
      const int64_t t = activations_.size(1), d = activations_.size(2);
      ghost_ = t > 1 && 2 * t * t <= p * d;
      break;
    }
    case LayerKind::kGroupNorm:
    case LayerKind::kLayerNorm:
    case LayerKind::kEmbedding:
      activations_ = record.input;
      output_grad_ = output_grad;
      break;
  }
}

std::vector<torch::Tensor> PerSampleLayer::parameters() const {
  std::vector<torch::Tensor> parameters = {record_.weight};
  if (record_.bias.defined()) parameters.push_back(record_.bias);
  return parameters;
}

void PerSampleLayer::drop_examples(const torch::Tensor& keep) {
  if (record_.kind != LayerKind::kEmbedding) {
    activations_ = torch::where(broadcast_per_example(keep, activations_).to(torch::kBool),
                                activations_, torch::zeros_like(activations_));
  }
  output_grad_ = torch::where(broadcast_per_example(keep, output_grad_).to(torch::kBool),
                              output_grad_, torch::zeros_like(output_grad_));
  if (per_example_.defined()) {
    per_example_ = torch::where(broadcast_per_example(keep, per_example_).to(torch::kBool),
                                per_example_, torch::zeros_like(per_example_));
  }
}

torch::Tensor PerSampleLayer::squared_norms() const {
  const auto& a = activations_;
  const auto& g = output_grad_;
  switch (record_.kind) {
    case LayerKind::kLinear:
    case LayerKind::kConv2d: {
      torch::Tensor weight;
      if (a.size(1) == 1) {
        weight = a.squeeze(1).square().sum(1) * g.squeeze(1).square().sum(1);
      } else if (ghost_) {
        weight = (torch::bmm(a, a.transpose(1, 2)) * torch::bmm(g, g.transpose(1, 2)))
                     .sum({1, 2})
                     .clamp_min(0);
      } else {
        // Kept for clipped_sums: Σᵢ cᵢ∇Wᵢ is then a cheap c-weighted sum instead of a second GEMM.
        per_example_ = torch::bmm(g.transpose(1, 2), a);
        weight = per_example_sum_of_squares(per_example_);
      }
      if (!record_.bias.defined()) return weight;
      return weight + g.sum(1).square().sum(1);
    }
    case LayerKind::kGroupNorm: {
      const int64_t b = a.size(0), c = a.size(1);
      const auto gamma = (a * g).reshape({b, c, -1}).sum(2);
      const auto beta = g.reshape({b, c, -1}).sum(2);
      return gamma.square().sum(1) + beta.square().sum(1);
    }
    case LayerKind::kLayerNorm: {
      const int64_t b = a.size(0), features = record_.weight.numel();
      const auto gamma = (a * g).reshape({b, -1, features}).sum(1);
      const auto beta = g.reshape({b, -1, features}).sum(1);
      return gamma.square().sum(1) + beta.square().sum(1);
    }
    case LayerKind::kEmbedding: {
      const int64_t b = a.size(0);
      const auto indices = a.reshape({b, -1});
      auto grads = g.reshape({b, indices.size(1), -1});
      if (record_.padding_idx >= 0) {
        grads = grads * indices.ne(record_.padding_idx).unsqueeze(2).to(grads.dtype());
      }
      const auto same = indices.unsqueeze(2).eq(indices.unsqueeze(1)).to(grads.dtype());
      return (same * torch::bmm(grads, grads.transpose(1, 2))).sum({1, 2}).clamp_min(0);
    }
  }
  TORCH_CHECK(false, "unknown layer kind");
}

std::vector<torch::Tensor> PerSampleLayer::clipped_sums(const torch::Tensor& clip_factors) const {
  const auto& a = activations_;
  const auto scaled = output_grad_ * broadcast_per_example(clip_factors, output_grad_);
  std::vector<torch::Tensor> sums;
  switch (record_.kind) {
    case LayerKind::kLinear:
    case LayerKind::kConv2d: {
      const int64_t p = scaled.size(2), d = a.size(2);
      if (per_example_.defined()) {
        const auto factors = clip_factors.to(per_example_.dtype());
        sums.push_back(factors.matmul(per_example_.reshape({per_example_.size(0), -1})).view(record_.weight.sizes()));
      } else {
        // (c ⊙ G)ᵀ A over all B·T rows: one GEMM, no per-example weight tensor.
        sums.push_back(scaled.reshape({-1, p}).t().mm(a.reshape({-1, d})).view(record_.weight.sizes()));
      }
      if (record_.bias.defined()) sums.push_back(scaled.sum({0, 1}));
      break;
    }
    case LayerKind::kGroupNorm: {
      const int64_t b = a.size(0), c = a.size(1);
      sums.push_back((a * scaled).reshape({b, c, -1}).sum({0, 2}));
      sums.push_back(scaled.reshape({b, c, -1}).sum({0, 2}));
      break;
    }
    case LayerKind::kLayerNorm: {
      const int64_t features = record_.weight.numel();
      sums.push_back((a * scaled).reshape({-1, features}).sum(0).view(record_.weight.sizes()));
      sums.push_back(scaled.reshape({-1, features}).sum(0).view(record_.bias.sizes()));
      break;
    }
    case LayerKind::kEmbedding: {
      const int64_t dim = record_.weight.size(1);
      auto rows = scaled.reshape({-1, dim});
      const auto indices = a.reshape({-1});
      if (record_.padding_idx >= 0) {
        rows = rows * indices.ne(record_.padding_idx).unsqueeze(1).to(rows.dtype());
      }
      sums.push_back(torch::zeros_like(record_.weight).index_add_(0, indices, rows));
      break;
    }
  }
  return sums;
}

}  // namespace dpforge::dp
