// SPDX-License-Identifier: Apache-2.0
// Every CUDA op against its CPU twin (ggml's rule). Named *_CUDA; skipped without a GPU.
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "dpforge/dp/device.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/noise.h"
#include "dpforge/nn/models.h"
#include "dpforge/train/steps.h"
#include "src/dp/device_ops.h"

namespace dpforge::dp {
namespace {

#define DPF_REQUIRE_CUDA()                                                                  \
  do {                                                                                      \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to LibTorch"; \
    if (!cuda_kernels_available()) GTEST_SKIP() << "built without dpforge's CUDA kernels";  \
  } while (false)

// One row per CUDA op (ggml's parity table): its inputs for a shape, the op (which dispatches to
// the kernel for CUDA tensors), its CPU reference (ops::reference, plain torch) and the tolerance
// of the comparison. float32 sums run in a different order on the two sides, hence the tolerances.
struct ParityRow {
  std::string op;
  std::vector<std::vector<int64_t>> shapes;
  std::function<std::vector<torch::Tensor>(const std::vector<int64_t>& shape)> inputs;
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> run;        // on CUDA inputs
  std::function<torch::Tensor(const std::vector<torch::Tensor>&)> reference;  // on the CPU copies
  double rel_tol, abs_tol;
};

// Clip factors, norms (NaN/Inf as ±1e30 so they compare) and the dropped count, as one tensor.
torch::Tensor clip_result(const ops::ClipFactors& clip) {
  return torch::cat({clip.factors.cpu(), torch::nan_to_num(clip.norms.cpu(), 1e30, 1e30, -1e30),
                     torch::tensor({static_cast<float>(clip.dropped)})});
}

std::vector<torch::Tensor> layer_norms_with_non_finite(const std::vector<int64_t>& shape) {
  const int64_t b = shape[0];
  std::vector<torch::Tensor> layers = {torch::rand({b}) * 4, torch::rand({b}),
                                       torch::rand({b}) * 0.01};
  layers[1][0] = std::numeric_limits<float>::quiet_NaN();
  if (b > 1) layers[0][b - 1] = std::numeric_limits<float>::infinity();
  return layers;
}

std::vector<ParityRow> parity_table() {
  // Batch x row shapes with odd sizes, B = 1 and empty batches.
  const std::vector<std::vector<int64_t>> rows = {{1, 1},      {1, 7}, {3, 1000},
                                                  {257, 4097}, {0, 5}, {64, 33}};
  auto clip_row = [](bool automatic) {
    return ParityRow{automatic ? "clip_factors (automatic)" : "clip_factors (flat)",
                     {{1}, {5}, {300}},
                     layer_norms_with_non_finite,
                     [automatic](const auto& in) {
                       return clip_result(ops::clip_factors(in, 1.3, automatic, 0.01));
                     },
                     [automatic](const auto& in) {
                       return clip_result(ops::reference::clip_factors(in, 1.3, automatic, 0.01));
                     },
                     1e-5,
                     1e-6};
  };
  return {
      {"row_squared_norms", rows, [](const auto& s) { return std::vector{torch::randn(s)}; },
       [](const auto& in) { return ops::row_squared_norms(in[0]); },
       [](const auto& in) { return ops::reference::row_squared_norms(in[0]); }, 1e-5, 1e-6},
      {"weighted_row_sum", rows,
       [](const auto& s) {
         return std::vector{torch::rand({s[0]}), torch::randn(s)};
       },
       [](const auto& in) { return ops::weighted_row_sum(in[0], in[1]); },
       [](const auto& in) { return ops::reference::weighted_row_sum(in[0], in[1]); }, 1e-5, 1e-6},
      {"scale_rows", rows,
       [](const auto& s) {
         return std::vector{torch::randn({s[0], 3, s[1]}), torch::rand({s[0]})};
       },
       [](const auto& in) { return ops::scale_rows(in[0], in[1]); },
       [](const auto& in) { return ops::reference::scale_rows(in[0], in[1]); }, 1e-5, 1e-6},
      // (B, T, d, p): T = 1, below / at / above one 16-wide tile, long sequences, odd widths. Sums
      // of T² products: compared relative to each example's own norm.
      {"ghost_squared_norms",
       {{1, 1, 5, 3},
        {4, 3, 8, 6},
        {2, 16, 33, 17},
        {5, 17, 64, 10},
        {3, 64, 128, 512},
        {0, 4, 4, 4},
        {2, 200, 7, 9}},
       [](const auto& s) {
         return std::vector{torch::randn({s[0], s[1], s[2]}), torch::randn({s[0], s[1], s[3]})};
       },
       [](const auto& in) { return ops::ghost_squared_norms(in[0], in[1]); },
       [](const auto& in) { return ops::reference::ghost_squared_norms(in[0], in[1]); },
       1e-4,
       1e-3},
      clip_row(false),
      clip_row(true),
      // Noise shares kernels/philox.h with the CPU generator and rounds alike (no FMA contraction
      // on either side): bit for bit, so tolerance 0.
      {"add_noise_and_scale (plain, secure)",
       {{1}, {7}, {4096}, {100003}, {0}},
       [](const auto& s) { return std::vector{torch::randn(s)}; },
       [](const auto& in) {
         auto plain = in[0].clone(), secure = in[0].clone();
         add_noise_and_scale_(plain, 0.7, 0.01, 31, 5, false);
         add_noise_and_scale_(secure, 0.7, 0.01, 31, 5, true);
         return torch::cat({plain.cpu(), secure.cpu()});
       },
       [](const auto& in) {
         auto plain = in[0].clone(), secure = in[0].clone();
         add_noise_and_scale_cpu(plain, 0.7, 0.01, 31, 5, false);
         add_noise_and_scale_cpu(secure, 0.7, 0.01, 31, 5, true);
         return torch::cat({plain, secure});
       },
       0.0,
       0.0},
  };
}

TEST(CudaKernels, EveryOpMatchesItsCpuReference_CUDA) {
  DPF_REQUIRE_CUDA();
  torch::manual_seed(20);
  for (const auto& row : parity_table()) {
    for (const auto& shape : row.shapes) {
      const auto cpu_inputs = row.inputs(shape);
      std::vector<torch::Tensor> gpu_inputs;
      for (const auto& input : cpu_inputs) gpu_inputs.push_back(input.cuda());
      const auto gpu = row.run(gpu_inputs).cpu();
      const auto cpu = row.reference(cpu_inputs);
      const std::string what = fmt::format("{} {}", row.op, fmt::join(shape, "x"));
      ASSERT_EQ(gpu.sizes(), cpu.sizes()) << what;
      if (row.rel_tol == 0 && row.abs_tol == 0) {
        EXPECT_TRUE(torch::equal(gpu, cpu)) << what << ": not bit-identical";
      } else {
        EXPECT_TRUE(torch::allclose(gpu, cpu, row.rel_tol, row.abs_tol))
            << what << ": max |diff| " << (gpu - cpu).abs().max().item<double>();
      }
    }
  }
}

// The multi-tensor noise launch (48 tensors per launch) and determinism: the values of separate
// CPU calls, the same bits twice.
TEST(CudaKernels, ManyTensorNoiseIsBitIdenticalToCpuAndDeterministic_CUDA) {
  DPF_REQUIRE_CUDA();
  for (const bool secure : {false, true}) {
    std::vector<torch::Tensor> cpu, gpu;
    std::vector<uint64_t> first_blocks;
    NoiseGenerator stream(31, 5, secure);
    for (const int64_t size : {1, 7, 4096, 100003, 0, 3}) {  // 6 tensors incl. an empty one
      cpu.push_back(torch::randn({size}));
      gpu.push_back(cpu.back().cuda());
      first_blocks.push_back(stream.reserve(size));
    }
    add_noise_and_scale_many_(cpu, first_blocks, 0.7, 0.01, 31, secure);
    auto again = gpu;
    for (auto& t : again) t = t.clone();
    add_noise_and_scale_many_(gpu, first_blocks, 0.7, 0.01, 31, secure);
    add_noise_and_scale_many_(again, first_blocks, 0.7, 0.01, 31, secure);
    for (size_t k = 0; k < cpu.size(); ++k) {
      EXPECT_TRUE(torch::equal(gpu[k].cpu(), cpu[k])) << "tensor " << k << " secure " << secure;
      EXPECT_TRUE(torch::equal(gpu[k], again[k])) << "same seed, same bits: tensor " << k;
    }
  }
  // More tensors than one launch carries (48): still the values of separate calls.
  std::vector<torch::Tensor> many_cpu, many_gpu;
  std::vector<uint64_t> blocks;
  for (int k = 0; k < 100; ++k) {
    many_cpu.push_back(torch::zeros({k + 1}));
    many_gpu.push_back(many_cpu.back().cuda());
    blocks.push_back(static_cast<uint64_t>(1000 * k));
  }
  add_noise_and_scale_many_(many_cpu, blocks, 1.0, 1.0, 9, false);
  add_noise_and_scale_many_(many_gpu, blocks, 1.0, 1.0, 9, false);
  for (int k = 0; k < 100; ++k) EXPECT_TRUE(torch::equal(many_gpu[k].cpu(), many_cpu[k])) << k;
}

TEST(CudaKernels, NoiseStatisticsOverAMillionDraws_CUDA) {
  DPF_REQUIRE_CUDA();
  constexpr int64_t n = 1 << 20;
  auto values = torch::zeros({n}, torch::TensorOptions().device(torch::kCUDA));
  add_noise_and_scale_(values, 1.0, 1.0, 4242, 0);
  const auto z = values.cpu().to(torch::kFloat64);
  const double se = 1 / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 5 * se);
  EXPECT_NEAR(z.std().item<double>(), 1.0, 5 * se / std::sqrt(2.0));
  EXPECT_NEAR(z.abs().gt(3).to(torch::kFloat64).mean().item<double>(), 0.0026998,
              5 * std::sqrt(0.0027 / n));
}

// A short DP-SGD run on the GPU follows the CPU's loss curve: same initial weights, same batches,
// bit-identical noise; only float rounding of the GEMMs differs.
TEST(CudaTraining, ShortDpRunFollowsTheCpuLossCurve_CUDA) {
  DPF_REQUIRE_CUDA();
  auto run = [](const torch::Device& device) {
    torch::manual_seed(5);
    auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kCnnTanh));
    const auto images = torch::rand({256, 1, 28, 28});
    const auto labels = torch::randint(10, {256}, torch::kLong);
    model->to(device);
    torch::optim::SGD inner(model->parameters(), torch::optim::SGDOptions(0.5));
    NoiseGenerator noise(77);
    const auto clip = ClipOptions().max_grad_norm(1.0);
    std::vector<double> losses;
    for (int64_t step = 0; step < 20; ++step) {
      const auto index = torch::arange(step % 4 * 64, step % 4 * 64 + 64, torch::kLong);
      const auto x = images.index_select(0, index).to(device),
                 y = labels.index_select(0, index).to(device);
      ClippedSum sum(model->parameters());
      const auto stats = clip_and_accumulate(model, train::cross_entropy_loss(), x, y, clip, sum);
      step_inner(model->parameters(), privatize(std::move(sum), 0.5, 64, noise), inner);
      losses.push_back(stats.loss_sum / 64);
    }
    return losses;
  };
  const auto cpu = run(torch::kCPU);
  const auto gpu = run(torch::Device(torch::kCUDA, 0));
  for (size_t step = 0; step < cpu.size(); ++step)
    EXPECT_NEAR(gpu[step], cpu[step], 1e-3 * (1 + cpu[step])) << step;
}

}  // namespace
}  // namespace dpforge::dp
