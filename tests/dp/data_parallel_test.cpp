// SPDX-License-Identifier: Apache-2.0
// Data-parallel DP-SGD (dp/data_parallel.h, issue 21): W ranks, each holding its shard, train as
// the one process that holds all N examples would: the same sampled examples, one noise, the same
// weights up to float32 summation order. Ranks run as threads with an in-memory all-reduce, and,
// when tests/dist/run_ranks.sh starts this binary as W processes (WORLD_SIZE set), over
// torch.distributed's Gloo on 127.0.0.1.
#include "dpforge/dp/data_parallel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <barrier>
#include <cstdlib>
#include <thread>

#include "dp/oracle.h"
#include "dpforge/audit/canary_hook.h"
#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/core/error.h"
#include "dpforge/dist/process_group.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/nn/layers.h"
#include "dpforge/train/steps.h"
#include "test_util.h"

namespace dpforge::dp {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kExamples = 120;
constexpr int64_t kSteps = 6;
// float32 sums taken per shard and then added differ from one running sum in the last bits; six
// steps of SGD at lr 0.5 carry that to about 1e-6. Noise added once per rank would move every
// weight by about σC/(qN) = 0.03 per step.
constexpr double kSummationOrderTolerance = 1e-5;

DpPlan make_plan(double sample_rate) {
  DpPlan plan;
  plan.dataset_size = kExamples;
  plan.sample_rate = sample_rate;
  plan.expected_batch_size = sample_rate * kExamples;
  plan.clip = ClipOptions().max_grad_norm(0.7);
  plan.noise_multiplier = 1.3;
  plan.noise_std = 1.3 * 0.7;
  return plan;
}

data::Dataset make_data() {
  torch::manual_seed(4);
  return {torch::randn({kExamples, 6}), torch::randint(3, {kExamples}, torch::kLong), 3};
}

torch::nn::Sequential make_model() {
  torch::manual_seed(3);
  return torch::nn::Sequential(nn::Linear(6, 8), torch::nn::Tanh(), nn::Linear(8, 3));
}

// Records the examples each step clipped, as global indices.
class Members final : public StepHook {
 public:
  explicit Members(int64_t offset) : offset_(offset) {}
  void after_clipping(const DpPlan&, DpSgdTarget&, std::span<const int64_t> real) override {
    auto& step = steps.emplace_back();
    for (const auto index : real) step.push_back(index + offset_);
  }
  std::vector<std::vector<int64_t>> steps;

 private:
  int64_t offset_;
};

struct RankResult {
  torch::Tensor weights;
  std::vector<std::vector<int64_t>> members;  // per step
  torch::Tensor canary_scores;                // what the auditor saw of its canaries' coordinates
};

struct RunShape {
  double sample_rate = 0.25;
  int64_t canaries = 40;  // the auditor's Dirac canaries, examples after the N real ones
};

// kSteps steps of rank `rank` of `world` from the same seeds; `ranks` null: one process, all N.
RankResult train_rank(torch::nn::Sequential model, const data::Dataset& all, int64_t rank,
                      int64_t world, CrossRankSum* ranks, const RunShape& shape = {}) {
  auto plan = make_plan(shape.sample_rate);
  plan.canaries = shape.canaries;
  const auto [begin, end] = shard_range(all.size(), rank, world);
  const auto shard = all.with(all.inputs.slice(0, begin, end), all.labels.slice(0, begin, end));
  const DataParallel data_parallel{rank, world, begin, end, ranks};
  torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.5));
  audit::DiracCanaries canaries(shape.canaries, /*secret_seed=*/8, 5 * 0.7);
  audit::CanaryHook auditor(canaries, plan, torch::kCPU);
  // The member canaries join the population the sampler draws from, after the real examples.
  DpSgdState state{data::PoissonSampler(kExamples + auditor.extra_examples(), plan.sample_rate, 5),
                   NoiseGenerator(9)};
  DpSgdTarget target{model,
                     inner,
                     shard,
                     train::cross_entropy_loss(),
                     16,
                     nullptr,
                     ranks != nullptr ? &data_parallel : nullptr};
  Members members(begin);
  std::vector<StepHook*> hooks{&members, &auditor};
  for (int64_t t = 0; t < kSteps; ++t) dp_sgd_step(plan, state, target, hooks);
  return {flat(model->parameters()).detach().clone(), members.steps, canaries.scores().clone()};
}

// An all-reduce among threads: each adds the slots in rank order, so all get the same bits.
class ThreadRanks {
 public:
  explicit ThreadRanks(int64_t world) : slots_(static_cast<size_t>(world)), barrier_(world) {}

  class Rank final : public CrossRankSum {
   public:
    Rank(ThreadRanks& owner, int64_t rank) : owner_(owner), rank_(rank) {}
    void sum_(torch::Tensor& flat) override { owner_.sum(rank_, flat); }

   private:
    ThreadRanks& owner_;
    int64_t rank_;
  };

 private:
  void sum(int64_t rank, torch::Tensor& flat) {
    slots_[static_cast<size_t>(rank)] = flat.clone();
    barrier_.arrive_and_wait();
    auto total = slots_[0].clone();
    for (size_t r = 1; r < slots_.size(); ++r) total += slots_[r];
    barrier_.arrive_and_wait();
    flat.copy_(total);
  }
  std::vector<torch::Tensor> slots_;
  std::barrier<> barrier_;
};

// The one-process run and a W-rank run agree: the union of the ranks' members is the sample, each
// rank's members lie in its shard, every rank ends with the same weights, equal to the one
// process's up to summation order.
void expect_same_run(const RankResult& one, const std::vector<RankResult>& ranks, int64_t world) {
  for (int64_t t = 0; t < kSteps; ++t) {
    std::vector<int64_t> joined;
    for (int64_t r = 0; r < world; ++r) {
      const auto [begin, end] = shard_range(kExamples, r, world);
      for (const auto index : ranks[r].members[t]) {
        EXPECT_GE(index, begin);
        EXPECT_LT(index, end);
        joined.push_back(index);
      }
    }
    EXPECT_EQ(joined, one.members[t]) << "step " << t;
  }
  for (int64_t r = 0; r < world; ++r) {
    // The canaries' clipped sums come from rank 0 alone, once, then the one noise.
    EXPECT_TRUE(
        torch::allclose(ranks[r].canary_scores, one.canary_scores, 0, kSummationOrderTolerance))
        << "rank " << r;
    EXPECT_TRUE(torch::equal(ranks[r].weights, ranks[0].weights)) << "rank " << r;
    EXPECT_TRUE(torch::allclose(ranks[r].weights, one.weights, 0, kSummationOrderTolerance))
        << "rank " << r << ": max difference "
        << (ranks[r].weights - one.weights).abs().max().item<double>();
  }
  EXPECT_FALSE(torch::equal(one.weights, flat(make_model()->parameters())));  // it trained
}

TEST(DataParallel, ShardsCoverTheExamplesOnceInOrder) {
  for (const int64_t world : {1, 2, 3, 7}) {
    int64_t next = 0;
    for (int64_t rank = 0; rank < world; ++rank) {
      const auto [begin, end] = shard_range(10, rank, world);
      EXPECT_EQ(begin, next);
      EXPECT_LE(end - begin, 10 / world + 1);
      next = end;
    }
    EXPECT_EQ(next, 10);
  }
}

// `world` ranks as threads sharing an in-memory all-reduce.
std::vector<RankResult> train_on_threads(const data::Dataset& all, int64_t world,
                                         const RunShape& shape) {
  ThreadRanks shared(world);
  std::vector<ThreadRanks::Rank> views;
  std::vector<torch::nn::Sequential> models;
  for (int64_t r = 0; r < world; ++r) {
    views.emplace_back(shared, r);
    models.push_back(make_model());  // before the threads: the seed is global
  }
  std::vector<RankResult> results(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int64_t r = 0; r < world; ++r) {
    threads.emplace_back(
        [&, r] { results[r] = train_rank(models[r], all, r, world, &views[r], shape); });
  }
  for (auto& thread : threads) thread.join();
  return results;
}

TEST(DataParallel, RanksOnThreadsTrainAsOneProcess) {
  const auto all = make_data();
  const auto one = train_rank(make_model(), all, 0, 1, nullptr);
  for (const int64_t world : {2, 3}) expect_same_run(one, train_on_threads(all, world, {}), world);
}

// At q = 0.02 most ranks' shards have no member in most steps; they still join every step's
// all-reduce with zeros, and noise and step like the others.
TEST(DataParallel, RanksWithEmptyBatchesKeepStep) {
  const RunShape sparse{.sample_rate = 0.02, .canaries = 40};
  const auto all = make_data();
  const auto one = train_rank(make_model(), all, 0, 1, nullptr, sparse);
  const auto ranks = train_on_threads(all, 3, sparse);
  int64_t empty = 0;
  for (const auto& rank : ranks)
    for (const auto& step : rank.members) empty += step.empty() ? 1 : 0;
  EXPECT_GT(empty, 3);
  expect_same_run(one, ranks, 3);
}

// Started by tests/dist/run_ranks.sh as WORLD_SIZE processes; alone, there is nothing to join.
TEST(DataParallelGloo, RanksTrainAsOneProcessAndRefuseAMismatch) {
  const auto world = dist::world_from_environment();
  if (!world) GTEST_SKIP() << "run by tests/dist/run_ranks.sh (WORLD_SIZE unset)";
  dist::ProcessGroup ranks(*world, std::chrono::seconds(60));
  EXPECT_EQ(ranks.broadcast(41 + static_cast<uint64_t>(world->rank)), 41U);
  auto ones = torch::ones({5});
  ranks.sum_(ones);
  EXPECT_TRUE(torch::equal(ones, torch::full({5}, static_cast<float>(world->world_size))));
  EXPECT_NO_THROW(ranks.require_same("recipe hash", "abc"));
  if (world->world_size > 1) {
    EXPECT_THAT(testing::error_of(
                    [&] { ranks.require_same("recipe hash", world->rank == 1 ? "other" : "abc"); }),
                HasSubstr("rank 1: its recipe hash is 'other', rank 0's is 'abc'"));
  }
  const auto all = make_data();
  const auto one = train_rank(make_model(), all, 0, 1, nullptr);
  const auto mine = train_rank(make_model(), all, world->rank, world->world_size, &ranks);
  EXPECT_TRUE(torch::allclose(mine.canary_scores, one.canary_scores, 0, kSummationOrderTolerance));
  const auto [begin, end] = shard_range(kExamples, world->rank, world->world_size);
  for (int64_t t = 0; t < kSteps; ++t) {
    std::vector<int64_t> expected;
    for (const auto index : one.members[t])
      if (index >= begin && index < end) expected.push_back(index);
    EXPECT_EQ(mine.members[t], expected) << "step " << t;
  }
  EXPECT_TRUE(torch::allclose(mine.weights, one.weights, 0, kSummationOrderTolerance));
  auto checksum = mine.weights.clone();
  ranks.sum_(checksum);  // identical weights everywhere: their sum is W times rank 0's
  EXPECT_TRUE(torch::allclose(checksum, mine.weights * static_cast<float>(world->world_size)));
}

// A rank whose rank 0 never serves the store: an error naming the address, after the timeout.
TEST(DataParallelGloo, AnUnreachableRankZeroIsAnErrorNamingTheAddress) {
  if (std::getenv("WORLD_SIZE") != nullptr) GTEST_SKIP() << "a rank of a started run";
  const dist::World world{
      .rank = 1,
      .world_size = 2,
      .master_addr = "127.0.0.1",
      .master_port = 40000 + static_cast<int64_t>(::getpid() % 20000)};  // not run_ranks.sh's
  EXPECT_THAT(testing::error_of([&] { dist::ProcessGroup(world, std::chrono::seconds(2)); }),
              HasSubstr("rank 1 of 2: could not join the ranks at 127.0.0.1:"));
}

TEST(DataParallelGloo, EnvironmentErrorsNameTheVariable) {
  if (std::getenv("WORLD_SIZE") != nullptr) GTEST_SKIP() << "a rank of a started run";
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("RANK", "2", 1);
  EXPECT_THAT(testing::error_of([] { dist::world_from_environment(); }),
              HasSubstr("RANK='2' is not a rank from 0 to WORLD_SIZE - 1 = 1"));
  ::setenv("RANK", "1", 1);
  ::setenv("MASTER_PORT", "70000", 1);
  EXPECT_THAT(testing::error_of([] { dist::world_from_environment(); }),
              HasSubstr("MASTER_PORT='70000' is not a TCP port from 1 to 65535"));
  ::setenv("MASTER_PORT", "29511", 1);
  const auto world = dist::world_from_environment();
  ASSERT_TRUE(world.has_value());
  EXPECT_EQ(world->rank, 1);
  EXPECT_EQ(world->master_addr, "127.0.0.1");
  for (const char* name : {"WORLD_SIZE", "RANK", "MASTER_PORT"}) ::unsetenv(name);
  EXPECT_FALSE(dist::world_from_environment().has_value());
}

}  // namespace
}  // namespace dpforge::dp
