// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/dp_sgd.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>

#include "dpforge/core/error.h"
#include "dpforge/data/task.h"
#include "dpforge/dp/tape.h"

namespace dpforge::dp {

namespace {

// TF32 GEMMs round their inputs to a 10-bit mantissa (relative error ~1e-3), a hundred times the
// margin clip_and_sum leaves for float32 rounding (kFloat32NormMargin): on an Ampere-or-later GPU
// with TF32 on, a clipped contribution could exceed C. The step therefore runs with IEEE float32
// matmuls and convolutions and restores the caller's setting when it returns.
class Float32MatmulScope {
 public:
  Float32MatmulScope()
      : cublas_(at::globalContext().allowTF32CuBLAS()),
        cudnn_(at::globalContext().allowTF32CuDNN()) {
    if (cublas_) at::globalContext().setAllowTF32CuBLAS(false);
    if (cudnn_) at::globalContext().setAllowTF32CuDNN(false);
  }
  ~Float32MatmulScope() {
    if (cublas_) at::globalContext().setAllowTF32CuBLAS(true);
    if (cudnn_) at::globalContext().setAllowTF32CuDNN(true);
  }
  Float32MatmulScope(const Float32MatmulScope&) = delete;
  Float32MatmulScope& operator=(const Float32MatmulScope&) = delete;

 private:
  bool cublas_;
  bool cudnn_;
};

}  // namespace

int64_t count_correct(const torch::Tensor& outputs, const torch::Tensor& labels) {
  const bool classification =
      outputs.dim() == 2 && labels.dim() == 1 && !labels.is_floating_point();
  if (!classification) return 0;
  // One output against class labels is a binary task's logit.
  return data::count_correct(outputs.size(1) == 1 ? data::Task::kBinary : data::Task::kMulticlass,
                             outputs, labels);
}

ClippedSum::ClippedSum(std::vector<torch::Tensor> tensors) : tensors_(std::move(tensors)) {}

void ClippedSum::add(std::vector<PerSampleLayer> layers, const ClipOptions& clip) {
  torch::NoGradGuard no_grad;
  if (layers.empty()) return;
  std::vector<std::vector<torch::Tensor>> parameters;
  parameters.reserve(layers.size());
  for (const auto& layer : layers) parameters.push_back(layer.parameters());
  const auto clipped = clip_and_sum(std::move(layers), clip);
  dropped_ += clipped.dropped;
  for (size_t l = 0; l < parameters.size(); ++l) {
    for (size_t k = 0; k < clipped.sums[l].size(); ++k) {
      auto& sum = sums_[parameters[l][k].unsafeGetTensorImpl()];
      // clip_and_sum returns fresh tensors: the first one becomes the running sum, no copy.
      const auto contribution = clipped.sums[l][k].to(torch::kFloat32);
      sum = sum.defined() ? sum.add_(contribution) : contribution;
    }
  }
}

void ClippedSum::add(ClippedSum&& part) {
  dropped_ += part.dropped_;
  for (auto& [key, contribution] : part.sums_) {
    auto& sum = sums_[key];
    sum = sum.defined() ? sum.add_(contribution) : std::move(contribution);
  }
  part.sums_.clear();
}

torch::Tensor& ClippedSum::of(const torch::Tensor& tensor) {
  auto& sum = sums_[tensor.unsafeGetTensorImpl()];
  if (!sum.defined()) sum = torch::zeros(tensor.sizes(), tensor.options().dtype(torch::kFloat32));
  return sum;
}

void ClippedSum::sum_across_ranks(CrossRankSum& ranks) {
  int64_t total = 0;
  for (const auto& tensor : tensors_) total += tensor.numel();
  const auto options =
      tensors_.empty() ? torch::TensorOptions() : tensors_.front().options().dtype(torch::kFloat32);
  auto flat = torch::zeros({total}, options);
  int64_t offset = 0;
  for (const auto& tensor : tensors_) {
    const auto it = sums_.find(tensor.unsafeGetTensorImpl());
    if (it != sums_.end())
      flat.slice(0, offset, offset + tensor.numel()).copy_(it->second.flatten());
    offset += tensor.numel();
  }
  ranks.sum_(flat);
  offset = 0;
  for (const auto& tensor : tensors_) {
    sums_[tensor.unsafeGetTensorImpl()] =
        flat.slice(0, offset, offset + tensor.numel()).view(tensor.sizes());
    offset += tensor.numel();
  }
}

std::pair<int64_t, int64_t> shard_range(int64_t examples, int64_t rank, int64_t world_size) {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard_range: rank ", rank, " of ",
              world_size);
  return {examples * rank / world_size, examples * (rank + 1) / world_size};
}

BatchStats clip_and_accumulate(torch::nn::Sequential& model, const PerExampleLoss& loss,
                               const torch::Tensor& inputs, const torch::Tensor& labels,
                               const ClipOptions& clip, ClippedSum& sum) {
  GradTape tape;
  torch::Tensor outputs;
  {
    TapeGuard guard(tape);
    outputs = model->forward(inputs);
  }
  const auto losses = loss(outputs, labels);
  // One backward to the layer outputs only: parameter gradients come from the tape (book-keeping).
  sum.add(per_sample_layers(tape, losses.sum()), clip);
  return BatchStats{losses.detach().sum().item<double>(), count_correct(outputs.detach(), labels),
                    inputs.size(0)};
}

std::vector<torch::Tensor> privatize(ClippedSum sum, double noise_std, double expected_batch_size,
                                     NoiseGenerator& noise) {
  torch::NoGradGuard no_grad;
  const auto& tensors = sum.tensors_;
  std::vector<torch::Tensor> gradients(tensors.size());
  std::vector<uint64_t> first_blocks(tensors.size());
  for (size_t k = 0; k < tensors.size(); ++k) {
    const auto it = sum.sums_.find(tensors[k].unsafeGetTensorImpl());
    gradients[k] =
        it != sum.sums_.end()
            ? it->second.contiguous()
            : torch::zeros(tensors[k].sizes(), tensors[k].options().dtype(torch::kFloat32));
    first_blocks[k] = noise.reserve(gradients[k].numel());
  }
  sum.sums_.clear();
  add_noise_and_scale_many_(gradients, first_blocks, noise_std, 1.0 / expected_batch_size,
                            noise.seed(), noise.secure());
  return gradients;
}

void step_inner(const std::vector<torch::Tensor>& parameters,
                const std::vector<torch::Tensor>& gradients, torch::optim::Optimizer& inner) {
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < parameters.size(); ++k) {
    auto parameter = parameters[k];
    parameter.mutable_grad() = gradients[k].to(parameter.dtype());
  }
  inner.step();
  // The noised gradient has been used; holding it until the next step would keep one more copy
  // of the model alive through the next forward and backward.
  for (auto parameter : parameters) parameter.mutable_grad().reset();
}

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& model) {
  std::vector<torch::Tensor> trainable;
  for (const auto& parameter : model.parameters()) {
    if (parameter.requires_grad()) trainable.push_back(parameter);
  }
  return trainable;
}

namespace {

// A trainable parameter without a clipped sum after real examples went through the model would be
// updated with noise alone: its layer did not record on the tape.
void require_every_parameter_clipped(const torch::nn::Module& model, const ClippedSum& sum) {
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad() && !sum.has(item.value())) {
      throw_input_error(
          "model parameter '{}' received no per-example gradient in a DP-SGD step: its layer is in "
          "eval mode or bypasses the DP layers (call model->train() on the whole model; freeze a "
          "layer with requires_grad(false) instead)",
          item.key());
    }
  }
}

// The sampled examples beyond the real ones belong to the hooks, in order: each hook's gradients
// for its sampled examples go through the same clip_and_sum as the real examples'.
void add_extra_examples(const DpPlan& plan, std::span<const int64_t> sampled,
                        std::span<StepHook* const> hooks, ClippedSum& sum) {
  int64_t offset = plan.dataset_size;
  auto next = sampled.begin();
  for (auto* hook : hooks) {
    const int64_t end = offset + hook->extra_examples();
    std::vector<int64_t> mine;
    for (; next != sampled.end() && *next < end; ++next) mine.push_back(*next - offset);
    if (!mine.empty()) sum.add(hook->extra_gradients(mine), plan.clip);
    offset = end;
  }
  TORCH_CHECK(next == sampled.end(),
              "the sampler's population is larger than N plus the hooks' examples");
}

// The sampled real examples (global indices, ascending) in this rank's shard, as indices into its
// train_set (data_parallel.h, step 1).
std::vector<int64_t> shard_members(std::span<const int64_t> sampled, const DataParallel& ranks) {
  std::vector<int64_t> members;
  for (const auto index : sampled) {
    if (index >= ranks.shard_begin && index < ranks.shard_end)
      members.push_back(index - ranks.shard_begin);
  }
  return members;
}

// Physical batches [begin, end) of a step's `examples`: at most `max_batch` each, in order. With
// more workers than such batches, the examples are cut evenly into one batch per worker instead (at
// least kMinWorkerBatch each, below which a batch costs more in per-op overhead than it saves), so
// that no worker sits idle while another takes the whole step.
constexpr int64_t kMinWorkerBatch = 32;

std::vector<std::pair<int64_t, int64_t>> physical_batches(int64_t examples, int64_t max_batch,
                                                          int64_t workers) {
  std::vector<std::pair<int64_t, int64_t>> batches;
  const int64_t by_size = (examples + max_batch - 1) / max_batch;
  const int64_t even = std::min(workers, examples / kMinWorkerBatch);
  if (even > by_size) {
    for (int64_t b = 0; b < even; ++b)
      batches.emplace_back(examples * b / even, examples * (b + 1) / even);
    return batches;
  }
  for (int64_t begin = 0; begin < examples; begin += max_batch)
    batches.emplace_back(begin, std::min(examples, begin + max_batch));
  return batches;
}

}  // namespace

BatchStats clip_examples(DpSgdTarget& target, const ClipOptions& clip,
                         std::span<const int64_t> examples, ClippedSum& sum) {
  const auto& data = target.train_set;
  const auto indices =
      torch::tensor(std::vector<int64_t>(examples.begin(), examples.end()), torch::kLong)
          .to(data.inputs.device());
  const auto batches = physical_batches(indices.numel(), target.max_physical_batch,
                                        target.workers != nullptr ? target.workers->threads() : 1);
  std::vector<BatchStats> stats(batches.size());
  std::vector<std::optional<ClippedSum>> finished(batches.size());
  std::mutex adding;
  size_t added = 0;
  const auto one = [&](int64_t b) {
    const auto chunk = indices.slice(0, batches[b].first, batches[b].second);
    ClippedSum part(sum.tensors());
    stats[b] = clip_and_accumulate(target.model, target.loss, data.inputs.index_select(0, chunk),
                                   data.labels.index_select(0, chunk), clip, part);
    std::lock_guard lock(adding);
    finished[b] = std::move(part);
    for (; added < finished.size() && finished[added]; ++added) {
      sum.add(std::move(*finished[added]));
      finished[added].reset();
    }
  };
  if (target.workers != nullptr) {
    target.workers->for_each(static_cast<int64_t>(batches.size()), one);
  } else {
    for (size_t b = 0; b < batches.size(); ++b) one(static_cast<int64_t>(b));
  }
  BatchStats total;
  for (const auto& batch : stats) total += batch;
  return total;
}

// Note [noise after sum] — the order that makes the step private, in this one function (the
// invariants are numbered as in docs/design.md):
//   1. Poisson sampling at rate q: the batch is Binomial(N, q) and may be empty (invariant 1); the
//      auditor's canaries are sampled by the same draw, as examples of the same population;
//   2. Σᵢ cᵢ gᵢ — clipped per-example gradients summed over the whole logical batch, one physical
//      batch at a time; nothing may rescale or reshape this sum before the noise (its sensitivity
//      is exactly C, invariant 5); in a data-parallel step each rank sums the members of its
//      shard and the ranks' sums are added before the noise (dp/data_parallel.h);
//   3. + N(0, σ²C²) per coordinate, once per logical step, also for an empty batch (invariant 2);
//   4. ÷ q·N, the expected batch size — never the realized one, which would leak it (invariant 3);
//   5. the inner optimizer's step on that gradient (post-processing: free of privacy cost);
//   6. observers: the accountant records (σ, q) for the step just taken (invariant 6).
BatchStats dp_sgd_step(const DpPlan& plan, DpSgdState& state, DpSgdTarget& target,
                       std::span<StepHook* const> hooks) {
  const Float32MatmulScope ieee_float32;
  const auto sampled = state.sampler.next();  // ascending: the real examples come first
  const auto first_extra = std::lower_bound(sampled.begin(), sampled.end(), plan.dataset_size);

  const auto parameters = trainable_parameters(*target.model);
  std::vector<torch::Tensor> privatized = parameters;
  for (auto* hook : hooks) {
    for (auto& tensor : hook->privatized_tensors()) privatized.push_back(tensor);
  }
  ClippedSum sum(std::move(privatized));
  const auto* ranks = target.data_parallel;
  std::span<const int64_t> real =
      std::span<const int64_t>(sampled).first(static_cast<size_t>(first_extra - sampled.begin()));
  std::vector<int64_t> members;
  if (ranks != nullptr) real = members = shard_members(real, *ranks);
  const auto stats = clip_examples(target, plan.clip, real, sum);
  if (stats.examples > 0) require_every_parameter_clipped(*target.model, sum);
  for (auto* hook : hooks) hook->after_clipping(plan, target, real);
  // The rest of the step is one phase on one worker: its ops are too small to pay for a fork and
  // a join each (include/dpforge/dp/step_workers.h).
  const auto rest = [&] {
    if (ranks == nullptr || ranks->leads()) {
      add_extra_examples(plan,
                         std::span<const int64_t>(sampled).subspan(
                             static_cast<size_t>(first_extra - sampled.begin())),
                         hooks, sum);
    }
    state.examples_dropped += sum.dropped();
    if (ranks != nullptr) sum.sum_across_ranks(*ranks->cross_rank_sum);
    auto gradients =
        privatize(std::move(sum), plan.noise_std, plan.expected_batch_size, state.noise);
    size_t next = parameters.size();
    for (auto* hook : hooks) {
      const size_t count = hook->privatized_tensors().size();
      hook->after_noise(std::span<const torch::Tensor>(gradients).subspan(next, count));
      next += count;
    }
    gradients.resize(parameters.size());
    step_inner(parameters, gradients, target.inner);
    for (auto* hook : hooks) hook->after_step();
  };
  if (target.workers != nullptr) {
    target.workers->run(rest);
  } else {
    rest();
  }
  return stats;
}

}  // namespace dpforge::dp
