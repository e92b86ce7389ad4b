// SPDX-License-Identifier: Apache-2.0
// dpforge_bench --data-parallel: the DP step on ranks against the same step in one process
// (docs/distributed.md, "Step time on ranks").
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "dpforge/dist/process_group.h"
#include "dpforge/nn/models.h"
#include "src/bench/workloads.h"

namespace dpforge::bench {

int bench_data_parallel(const std::vector<std::string>& models, const std::vector<int64_t>& batches,
                        int repeats, int warmup, const Shapes& shapes) {
  const auto world = dist::world_from_environment();
  if (!world) {
    fmt::print(stderr,
               "dpforge_bench --data-parallel: WORLD_SIZE is not set (start the ranks "
               "with torchrun or scripts/bench_distributed.py)\n");
    return 2;
  }
  dist::ProcessGroup ranks(*world, std::chrono::seconds(120));
  const torch::Device cpu(torch::kCPU);
  for (const auto& arch : models) {
    for (const int64_t batch : batches) {
      auto work = make_workload(arch, batch, shapes, cpu);  // seeded: the same on every rank
      const auto [begin, end] = dp::shard_range(batch, world->rank, world->world_size);
      work.inputs = work.inputs.slice(0, begin, end).contiguous();
      work.labels = work.labels.slice(0, begin, end).contiguous();
      privacy::RdpAccountant accountant;
      dp::DpPlan plan;
      plan.clip = dp::ClipOptions().max_grad_norm(1.0);
      plan.noise_multiplier = plan.noise_std = 1.0;
      plan.sample_rate = 0.01;
      plan.expected_batch_size = static_cast<double>(batch);
      train::TrainOptions options;
      options.lr(1e-3);
      DpStepper stepper{plan,
                        train::make_optimizer(options, work.model->parameters()),
                        dp::NoiseGenerator(1),
                        accountant,
                        std::nullopt,
                        &ranks};
      const double ms = median_ms(
          repeats, [&] { stepper.step(work); }, warmup);
      // The step's one collective alone: the trainable parameters' sums, 4·P bytes.
      auto sums = torch::zeros({nn::count_parameters(*work.model)});
      const double reduce_ms = median_ms(
          repeats, [&] { ranks.sum_(sums); }, warmup);
      auto flat = torch::tensor({static_cast<float>(ms), static_cast<float>(reduce_ms)});
      ranks.sum_(flat);  // the slowest rank sets the pace; report the ranks' mean
      if (world->rank == 0) {
        std::cout << nlohmann::json{{"model", arch},
                                    {"batch", batch},
                                    {"ranks", world->world_size},
                                    {"threads", torch::get_num_threads()},
                                    {"parameters", sums.numel()},
                                    {"all_reduce_bytes", 4 * sums.numel()},
                                    {"all_reduce_ms", flat[1].item<double>() / world->world_size},
                                    {"median_ms", flat[0].item<double>() / world->world_size}}
                         .dump()
                  << std::endl;
      }
    }
  }
  return 0;
}

}  // namespace dpforge::bench
