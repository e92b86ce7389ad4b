// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/tape.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

namespace dpforge::dp {
namespace {
thread_local GradTape* current_tape = nullptr;
}  // namespace

// Identity in the forward; in the backward it hands G to the tape and passes G on unchanged
// (the anchor gets no gradient). The tape's address travels as an integer: saved_data holds
// IValues only.
struct OutputTap : torch::autograd::Function<OutputTap> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& output,
                               const torch::Tensor& /*anchor*/, int64_t tape_address,
                               int64_t index) {
    ctx->saved_data["tape"] = tape_address;
    ctx->saved_data["index"] = index;
    return output;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* tape =
        reinterpret_cast<GradTape*>(static_cast<intptr_t>(ctx->saved_data["tape"].toInt()));
    tape->take(static_cast<size_t>(ctx->saved_data["index"].toInt()), grads[0]);
    return {grads[0], torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor GradTape::record(LayerRecord record, const torch::Tensor& output) {
  // Per-example norms are taken per record: a weight used twice would be clipped per use, while
  // an example's gradient of it is the sum over uses, whose norm can exceed the clipping bound.
  TORCH_CHECK(recorded_weights_.insert(record.weight.unsafeGetTensorImpl()).second,
              "a DP layer was used twice in one DP forward (shared weights, ",
              record.weight.sizes(),
              "): not supported, since each use would be clipped on its own; use separate layers");
  if (!anchor_.defined()) anchor_ = torch::zeros({}, output.options().requires_grad(true));
  record.output_sizes = output.sizes().vec();
  const auto index = static_cast<int64_t>(records_.size());
  records_.push_back(std::move(record));
  return OutputTap::apply(output, anchor_, static_cast<int64_t>(reinterpret_cast<intptr_t>(this)),
                          index);
}

void GradTape::take(size_t index, const torch::Tensor& output_grad) {
  TORCH_CHECK(consumer_ != nullptr && index < records_.size(),
              "a DP layer's output gradient arrived outside GradTape::backward");
  TORCH_CHECK(!consumed_[index],
              "a DP layer's output gradient arrived twice: one backward per DP forward");
  consumed_[index] = true;
  (*consumer_)(index, output_grad);
  if (release_inputs_) records_[index].input.reset();
}

void GradTape::backward(const torch::Tensor& loss, const GradientConsumer& consume,
                        bool release_inputs) {
  TORCH_CHECK(loss.numel() == 1, "the DP backward needs a scalar loss, got shape ", loss.sizes());
  consumed_.assign(records_.size(), false);
  consumer_ = &consume;
  release_inputs_ = release_inputs;
  struct Reset {
    GradTape& tape;
    ~Reset() { tape.consumer_ = nullptr; }
  } reset{*this};
  if (!records_.empty()) {
    const auto root = torch::autograd::impl::gradient_edge(loss);
    TORCH_CHECK(root.function, "the loss does not depend on any DP layer");
    torch::autograd::Engine::get_default_engine().execute(
        {root}, {torch::ones_like(loss)}, /*keep_graph=*/false, /*create_graph=*/false,
        /*accumulate_grad=*/false, {torch::autograd::impl::gradient_edge(anchor_)});
  }
  for (size_t l = 0; l < records_.size(); ++l) {
    if (!consumed_[l]) take(l, zero_output_gradient(records_[l]));
  }
}

std::vector<torch::Tensor> GradTape::output_gradients(const torch::Tensor& loss) {
  std::vector<torch::Tensor> grads(records_.size());
  backward(loss, [&](size_t l, const torch::Tensor& grad) { grads[l] = grad; });
  return grads;
}

torch::Tensor zero_output_gradient(const LayerRecord& record) {
  return torch::zeros(record.output_sizes, record.weight.options());
}

GradTape* active_tape() { return current_tape; }

TapeGuard::TapeGuard(GradTape& tape) : previous_(current_tape) { current_tape = &tape; }

TapeGuard::~TapeGuard() { current_tape = previous_; }

}  // namespace dpforge::dp
