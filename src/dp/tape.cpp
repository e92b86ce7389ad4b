// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/tape.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

namespace dpforge::dp {
namespace {
thread_local GradTape* current_tape = nullptr;
}  // namespace

torch::autograd::Edge graph_edge(const torch::Tensor& output) {
  return torch::autograd::impl::gradient_edge(output);
}

// What torch::autograd::grad(loss, outputs) does, from edges instead of the output tensors.
std::vector<torch::Tensor> GradTape::output_gradients(const torch::Tensor& loss) const {
  TORCH_CHECK(loss.numel() == 1, "output_gradients needs a scalar loss, got ", loss.sizes());
  const auto root = graph_edge(loss);
  TORCH_CHECK(root.function, "the loss does not depend on any trainable parameter");
  torch::autograd::edge_list outputs;
  outputs.reserve(records_.size());
  for (const auto& record : records_) {
    TORCH_CHECK(record.output_edge.function, "a DP layer's output is not in the autograd graph "
                "(its parameters do not require gradients)");
    outputs.push_back(record.output_edge);
  }
  auto grads = torch::autograd::Engine::get_default_engine().execute(
      {root}, {torch::ones_like(loss)}, /*keep_graph=*/false, /*create_graph=*/false,
      /*accumulate_grad=*/false, outputs);
  for (size_t l = 0; l < grads.size(); ++l) {
    if (!grads[l].defined()) grads[l] = torch::zeros(records_[l].output_sizes, records_[l].weight.options());
  }
  return grads;
}

GradTape* active_tape() { return current_tape; }

TapeGuard::TapeGuard(GradTape& tape) : previous_(current_tape) { current_tape = &tape; }

TapeGuard::~TapeGuard() { current_tape = previous_; }

}  // namespace dpforge::dp
