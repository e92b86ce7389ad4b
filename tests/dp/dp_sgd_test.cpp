// SPDX-License-Identifier: Apache-2.0
// The DP-SGD step: what an empty step does, the clipped sum over the expected batch, and the
// order contract (the update does not depend on the physical split; the accountant composes once).
#include "dpforge/dp/dp_sgd.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>

#include "dp/oracle.h"
#include "dpforge/core/error.h"
#include "dpforge/data/poisson_sampler.h"
#include "dpforge/dp/noise.h"
#include "dpforge/nn/layers.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/train/steps.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(DpSgdStep, EmptyBatchStepIsNoiseOnlyAndCounted) {
  torch::nn::Sequential model(nn::Linear(3, 2));
  const auto before = flat(model->parameters()).clone();
  privacy::RdpAccountant accountant;
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(1.0));
  DpPlan plan;
  plan.dataset_size = 0;  // nothing to sample: the step is noise only
  plan.sample_rate = 0.1;
  plan.expected_batch_size = 4.0;
  plan.clip = ClipOptions().max_grad_norm(0.5);
  plan.noise_multiplier = 2.0;
  plan.noise_std = 1.0;
  const data::Dataset empty{torch::zeros({0, 3}), torch::zeros({0}, torch::kLong), 2};
  DpSgdState state{data::PoissonSampler(0, plan.sample_rate, 1), NoiseGenerator(42)};
  DpSgdTarget target{model, inner, empty, train::cross_entropy_loss(), 256};
  AccountantHook accounting(accountant, plan);
  std::vector<StepHook*> hooks{&accounting};
  const auto stats = dp_sgd_step(plan, state, target, hooks);
  EXPECT_EQ(stats.examples, 0);
  // Parameters in order (weight 6, bias 2) draw blocks 0-1 and 2; update = −lr·σC·z / (qN).
  const auto z_weight = philox_normals(6, 42, 0), z_bias = philox_normals(2, 42, 2);
  const auto expected = before - torch::cat({z_weight, z_bias}) * (2.0 * 0.5 / 4.0);
  EXPECT_TRUE(torch::allclose(flat(model->parameters()), expected, 1e-6, 1e-6));
  EXPECT_EQ(accountant.steps(), 1);
  EXPECT_EQ(state.noise.next_block(), 3U);
}

TEST(DpSgdStep, WithoutNoiseTheStepIsTheClippedSumOverTheExpectedBatch) {
  torch::manual_seed(8);
  torch::nn::Sequential model(nn::Linear(4, 3));
  model->to(torch::kFloat64);
  const auto x = torch::randn({5, 4}, torch::kFloat64);
  const auto aux = torch::randn({5, 3}, torch::kFloat64);
  const auto oracle = loop_gradients(model, x, aux, probe_loss);
  auto expected_sum = torch::zeros_like(oracle[0]);
  for (const auto& g : oracle)
    expected_sum +=
        std::min(1.0, 0.3 / (1 + kFloat32NormMargin) / (g.norm().item<double>() + 1e-6)) * g;
  const auto before = flat(model->parameters()).clone();

  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.7));
  const auto clip = ClipOptions().max_grad_norm(0.3);
  NoiseGenerator noise(1);
  // Two physical batches accumulate into one logical step.
  ClippedSum sum(model->parameters());
  for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 5}}) {
    clip_and_accumulate(model, probe_loss, x.slice(0, begin, end), aux.slice(0, begin, end), clip,
                        sum);
  }
  step_inner(model->parameters(), privatize(std::move(sum), 0.0, 8.0, noise), inner);
  // The sum is accumulated and noised in float32 (like the GPU path), hence the tolerance.
  EXPECT_TRUE(
      torch::allclose(flat(model->parameters()), before - 0.7 * expected_sum / 8.0, 1e-5, 1e-6));
}

// A small classification set and model for whole-step tests.
struct StepFixture {
  torch::nn::Sequential model{nn::Linear(6, 8), torch::nn::Tanh(), nn::Linear(8, 3)};
  data::Dataset train_set{torch::randn({40, 6}), torch::randint(3, {40}, torch::kLong), 3};
  DpPlan plan;
  StepFixture() {
    plan.dataset_size = 40;
    plan.sample_rate = 0.5;
    plan.expected_batch_size = 20;
    plan.clip = ClipOptions().max_grad_norm(0.7);
    plan.noise_multiplier = 1.3;
    plan.noise_std = 1.3 * 0.7;
  }
};

// Runs `steps` DP-SGD steps from the same weights, sampler seed and noise seed, physical batches of
// `physical`, and returns the final parameters and how often each hook phase ran.
struct StepRun {
  torch::Tensor parameters;
  int64_t accountant_steps = 0;
};
StepRun run_steps(int64_t physical, int64_t steps, StepWorkers* workers = nullptr) {
  torch::manual_seed(21);
  StepFixture fixture;
  torch::optim::SGD inner(fixture.model->parameters(), torch::optim::SGDOptions(0.5));
  DpSgdState state{data::PoissonSampler(40, fixture.plan.sample_rate, 5), NoiseGenerator(9)};
  DpSgdTarget target{fixture.model, inner,  fixture.train_set, train::cross_entropy_loss(),
                     physical,      workers};
  privacy::RdpAccountant accountant;
  AccountantHook accounting(accountant, fixture.plan);
  std::vector<StepHook*> hooks{&accounting};
  for (int64_t t = 0; t < steps; ++t) dp_sgd_step(fixture.plan, state, target, hooks);
  return {flat(fixture.model->parameters()).detach().clone(), accountant.steps()};
}

// Order contract (docs/design.md, invariant 2): the noise is added once to the logical batch's
// sum, so splitting the batch into physical batches changes only float rounding of the sum; noise
// per physical batch would move the update by about σC/(qN) per coordinate.
TEST(DpSgdStep, PhysicalSplitLeavesTheNoisedUpdateUnchanged) {
  const auto whole = run_steps(/*physical=*/1000, 3);
  for (int64_t physical : {1, 3, 7}) {
    const auto split = run_steps(physical, 3);
    EXPECT_TRUE(torch::allclose(split.parameters, whole.parameters, 1e-5, 1e-6)) << physical;
  }
}

// The workers take the physical batches in whatever order they come free, but each batch's sum is
// added in batch order: the step is the same to the bit for any number of them, and the same as on
// the caller alone (these tensors are below LibTorch's parallel grain: one thread either way).
TEST(DpSgdStep, WorkersTakingThePhysicalBatchesDoNotChangeABit) {
  const auto alone = run_steps(/*physical=*/3, 4);
  for (int64_t threads : {1, 2, 3, 5}) {
    StepWorkers workers(threads);
    const auto shared = run_steps(/*physical=*/3, 4, &workers);
    EXPECT_TRUE(torch::equal(shared.parameters, alone.parameters)) << threads;
    EXPECT_EQ(shared.accountant_steps, 4);
  }
}

// With more workers than physical batches of train.max_physical_batch, a step is cut into one batch
// per worker (examples enough for each): still one clipped sum, one noise.
TEST(DpSgdStep, AStepSmallerThanTheWorkersIsCutOneBatchPerWorker) {
  torch::manual_seed(4);
  const data::Dataset set{torch::randn({400, 6}), torch::randint(3, {400}, torch::kLong), 3};
  DpPlan plan;
  plan.dataset_size = 400;
  plan.sample_rate = 1.0;  // every example, every step
  plan.expected_batch_size = 400;
  plan.clip = ClipOptions().max_grad_norm(0.7);
  std::atomic<int> forwards = 0;
  const auto step_with = [&](StepWorkers* workers) {
    torch::manual_seed(5);
    forwards = 0;
    torch::nn::Sequential copy(nn::Linear(6, 3), torch::nn::Functional([&](torch::Tensor x) {
                                 ++forwards;
                                 return x;
                               }));
    torch::optim::SGD inner(copy->parameters(), torch::optim::SGDOptions(0.5));
    DpSgdState state{data::PoissonSampler(400, 1.0, 5), NoiseGenerator(9)};
    DpSgdTarget target{copy, inner, set, train::cross_entropy_loss(), 1000, workers};
    const auto stats = dp_sgd_step(plan, state, target);
    EXPECT_EQ(stats.examples, 400);
    return flat(copy->parameters()).detach().clone();
  };
  const auto one_batch = step_with(nullptr);
  EXPECT_EQ(forwards, 1);
  StepWorkers workers(4);
  const auto four_batches = step_with(&workers);
  EXPECT_EQ(forwards, 4);
  // Four sums of 100 instead of one of 400: float rounding apart, the same step.
  EXPECT_TRUE(torch::allclose(four_batches, one_batch, 1e-5, 1e-6));
}

TEST(StepWorkers, RunEveryIndexOnceWithOneIntraOpThreadAndTheCallersGradMode) {
  StepWorkers workers(3);
  EXPECT_EQ(workers.threads(), 3);
  std::vector<std::atomic<int>> runs(50);
  std::atomic<int> many_threads = 0, grad_enabled = 0;
  torch::NoGradGuard no_grad;
  workers.for_each(50, [&](int64_t i) {
    ++runs[i];
    if (at::get_num_threads() != 1) ++many_threads;
    if (torch::GradMode::is_enabled()) ++grad_enabled;
  });
  for (const auto& count : runs) EXPECT_EQ(count, 1);
  EXPECT_EQ(many_threads, 0);
  EXPECT_EQ(grad_enabled, 0);
  workers.for_each(0, [](int64_t) { FAIL() << "no index to run"; });
}

TEST(StepWorkers, TheFirstFailureIsRethrownAfterTheOthersFinished) {
  StepWorkers workers(2);
  std::atomic<int> finished = 0;
  EXPECT_THAT(
      [&] {
        workers.for_each(8, [&](int64_t i) {
          if (i == 3) throw InputError("batch 3 failed");
          ++finished;
        });
      },
      ::testing::ThrowsMessage<InputError>(HasSubstr("batch 3 failed")));
  EXPECT_EQ(finished, 7);
  // The pool is still there for the next job.
  std::atomic<int> again = 0;
  workers.for_each(4, [&](int64_t) { ++again; });
  EXPECT_EQ(again, 4);
}

// What the contract rules out, built from the same stages: noise added to each physical batch's
// sum. It lands far outside the tolerance above, so that test can tell the two apart.
TEST(DpSgdStep, NoisePerPhysicalBatchWouldBreakTheContract) {
  const auto whole = run_steps(/*physical=*/1000, 1);
  torch::manual_seed(21);
  StepFixture fixture;
  torch::optim::SGD inner(fixture.model->parameters(), torch::optim::SGDOptions(0.5));
  data::PoissonSampler sampler(40, fixture.plan.sample_rate, 5);
  NoiseGenerator noise(9);
  const auto batch = torch::tensor(sampler.next(), torch::kLong);
  std::vector<torch::Tensor> summed;
  for (int64_t begin = 0; begin < batch.numel(); begin += 3) {
    const auto chunk = batch.slice(0, begin, std::min(batch.numel(), begin + 3));
    ClippedSum sum(fixture.model->parameters());
    clip_and_accumulate(fixture.model, train::cross_entropy_loss(),
                        fixture.train_set.inputs.index_select(0, chunk),
                        fixture.train_set.labels.index_select(0, chunk), fixture.plan.clip, sum);
    auto part =
        privatize(std::move(sum), fixture.plan.noise_std, fixture.plan.expected_batch_size, noise);
    if (summed.empty())
      summed = part;
    else
      for (size_t k = 0; k < part.size(); ++k) summed[k] += part[k];
  }
  step_inner(fixture.model->parameters(), summed, inner);
  const auto wrong = flat(fixture.model->parameters()).detach();
  EXPECT_FALSE(torch::allclose(wrong, whole.parameters, 1e-5, 1e-6));
  EXPECT_GT((wrong - whole.parameters).abs().max().item<double>(), 1e-2);
}

TEST(DpSgdStep, TheAccountantComposesExactlyOncePerStep) {
  for (int64_t physical : {1000, 2})
    EXPECT_EQ(run_steps(physical, 5).accountant_steps, 5) << physical;
}

// Hooks see every phase once per step, in order; their tensors are noised after the model's, and
// their extra examples are sampled with the real ones and clipped by the same clip_and_sum.
TEST(DpSgdStep, HooksRunOncePerPhaseAndTheirExamplesAreClippedAndNoisedLikeRealOnes) {
  struct Recorder final : StepHook {
    torch::Tensor table = torch::zeros({5, 1});  // a one-hot lookup per extra example
    LayerRecord record;
    std::string phases;
    torch::Tensor seen;
    std::vector<torch::Tensor> privatized_tensors() override { return {table}; }
    int64_t extra_examples() const override { return 5; }
    std::vector<PerSampleLayer> extra_gradients(std::span<const int64_t> sampled) override {
      phases += "g";
      const int64_t b = static_cast<int64_t>(sampled.size());
      record = LayerRecord{
          .kind = LayerKind::kEmbedding,
          .input = torch::tensor(std::vector<int64_t>(sampled.begin(), sampled.end())).view({b, 1}),
          .weight = table,
          .output_sizes = {b, 1, 1}};
      std::vector<PerSampleLayer> layers;
      layers.emplace_back(record,
                          torch::full({b, 1, 1}, 10.0));  // a Dirac of norm 10 before clipping
      return layers;
    }
    void after_noise(std::span<const torch::Tensor> privatized) override {
      phases += "n";
      seen = privatized.front().clone();
    }
    void after_step() override { phases += "s"; }
  };
  torch::manual_seed(3);
  StepFixture fixture;
  fixture.plan.sample_rate = 1.0;  // every example, real and extra, in every step
  fixture.plan.expected_batch_size = 40;
  torch::optim::SGD inner(fixture.model->parameters(), torch::optim::SGDOptions(0.1));
  DpSgdState state{data::PoissonSampler(40 + 5, 1.0, 1), NoiseGenerator(4)};
  DpSgdTarget target{fixture.model, inner, fixture.train_set, train::cross_entropy_loss(), 16};
  Recorder recorder;
  std::vector<StepHook*> hooks{&recorder};
  dp_sgd_step(fixture.plan, state, target, hooks);
  dp_sgd_step(fixture.plan, state, target, hooks);
  EXPECT_EQ(recorder.phases, "gnsgns");
  // Second step: the table's noise comes after the model's 6·8 + 8 + 8·3 + 3 parameters (21
  // blocks) and the table's own 2 blocks of the first step. Each extra example was clipped from
  // 10 to C/(1 + κ) like any example.
  const int64_t model_blocks = (48 + 3) / 4 + (8 + 3) / 4 + (24 + 3) / 4 + (3 + 3) / 4;
  const auto z = philox_normals(5, 4, 2 * model_blocks + 2).view({5, 1});
  const double clipped = 0.7 / (1 + kFloat32NormMargin) * 10.0 / (10.0 + 1e-6);
  const auto expected = (torch::full({5, 1}, clipped) + fixture.plan.noise_std * z) / 40.0;
  EXPECT_TRUE(torch::allclose(recorder.seen, expected.to(torch::kFloat32), 1e-6, 1e-6));
}

// Frozen parameters are released as they were: no gradient, no noise, no update (issue 17: they
// used to receive noise), and the trainable ones draw the noise blocks the frozen ones would have.
TEST(DpSgdStep, FrozenParametersGetNeitherGradientNorNoise) {
  torch::manual_seed(5);
  StepFixture fixture;
  auto& first = *fixture.model->ptr<nn::LinearImpl>(0);
  first.weight.set_requires_grad(false);
  first.bias.set_requires_grad(false);
  const auto frozen_before = torch::cat({first.weight.flatten(), first.bias}).clone();
  const auto trainable_before = flat(fixture.model->ptr<nn::LinearImpl>(2)->parameters()).clone();
  torch::optim::SGD inner(fixture.model->parameters(),
                          torch::optim::SGDOptions(0.5).weight_decay(0.1));
  DpSgdState state{data::PoissonSampler(40, fixture.plan.sample_rate, 5), NoiseGenerator(9)};
  DpSgdTarget target{fixture.model, inner, fixture.train_set, train::cross_entropy_loss(), 16};
  dp_sgd_step(fixture.plan, state, target);
  EXPECT_TRUE(torch::equal(torch::cat({first.weight.flatten(), first.bias}), frozen_before));
  EXPECT_FALSE(
      torch::equal(flat(fixture.model->ptr<nn::LinearImpl>(2)->parameters()), trainable_before));
  EXPECT_EQ(state.noise.next_block(), static_cast<uint64_t>((24 + 3) / 4 + (3 + 3) / 4));
}

// A DP layer left in eval mode records nothing: it would train on noise alone. The step refuses.
TEST(DpSgdStep, ALayerInEvalModeIsAnErrorNotANoiseOnlyUpdate) {
  torch::manual_seed(6);
  StepFixture fixture;
  fixture.model->ptr(2)->eval();
  torch::optim::SGD inner(fixture.model->parameters(), torch::optim::SGDOptions(0.5));
  DpSgdState state{data::PoissonSampler(40, 0.5, 5), NoiseGenerator(9)};
  DpSgdTarget target{fixture.model, inner, fixture.train_set, train::cross_entropy_loss(), 16};
  EXPECT_THAT(
      [&] { dp_sgd_step(fixture.plan, state, target); },
      ::testing::ThrowsMessage<InputError>(AllOf(HasSubstr("'2.weight'"), HasSubstr("eval mode"))));
}

// TF32 would round the norms and the clipped sum a hundred times past kFloat32NormMargin: the step
// runs with IEEE float32 matmuls whatever the caller set, and gives the caller's setting back.
TEST(DpSgdStep, RunsWithoutTf32AndRestoresTheCallersSetting) {
  struct Probe final : StepHook {
    bool tf32_during_step = true;
    void after_step() override {
      tf32_during_step =
          at::globalContext().allowTF32CuBLAS() || at::globalContext().allowTF32CuDNN();
    }
  };
  torch::manual_seed(7);
  StepFixture fixture;
  torch::optim::SGD inner(fixture.model->parameters(), torch::optim::SGDOptions(0.5));
  DpSgdState state{data::PoissonSampler(40, 0.5, 5), NoiseGenerator(9)};
  DpSgdTarget target{fixture.model, inner, fixture.train_set, train::cross_entropy_loss(), 16};
  const bool cublas = at::globalContext().allowTF32CuBLAS();
  const bool cudnn = at::globalContext().allowTF32CuDNN();
  at::globalContext().setAllowTF32CuBLAS(true);
  at::globalContext().setAllowTF32CuDNN(true);
  Probe probe;
  std::vector<StepHook*> hooks{&probe};
  dp_sgd_step(fixture.plan, state, target, hooks);
  EXPECT_FALSE(probe.tf32_during_step);
  EXPECT_TRUE(at::globalContext().allowTF32CuBLAS());
  EXPECT_TRUE(at::globalContext().allowTF32CuDNN());
  at::globalContext().setAllowTF32CuBLAS(cublas);
  at::globalContext().setAllowTF32CuDNN(cudnn);
}

}  // namespace
}  // namespace dpforge::dp
