// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/noise.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <latch>

#include "src/dp/philox_cpu.h"
#if DPFORGE_WITH_CUDA_BRIDGE
#include "src/dp/cuda_bridge.h"
#endif

namespace dpforge::dp {

void add_noise_and_scale_cpu(torch::Tensor& values, double noise_std, double scale, uint64_t seed,
                             uint64_t first_block, bool secure) {
  TORCH_CHECK(values.is_contiguous() && values.scalar_type() == torch::kFloat32,
              "noise is added to contiguous float32 tensors");
  float* data = values.data_ptr<float>();
  const int64_t count = values.numel();
  const float std_f = static_cast<float>(noise_std), scale_f = static_cast<float>(scale);
  // Parts start at Philox-block boundaries, so the values do not depend on the thread count.
  // (at::parallel_for would run serially here: ATen's OpenMP backend needs -fopenmp in the
  // caller, which would also need a second OpenMP runtime next to LibTorch's; so the other parts
  // go to LibTorch's persistent inter-op pool.)
  constexpr int64_t kMinBlocksPerPart = 8192;
  const int64_t blocks = (count + 3) / 4;
  const int64_t parts =
      std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), blocks / kMinBlocksPerPart));
  const auto run_part = [&](int64_t part) {
    const int64_t begin = blocks * part / parts, end = blocks * (part + 1) / parts;
    add_noise_and_scale_f32_cpu(data + 4 * begin, std::min(4 * end, count) - 4 * begin, std_f,
                                scale_f, seed, first_block + static_cast<uint64_t>(begin), secure);
  };
  std::latch others_done(parts - 1);
  for (int64_t part = 1; part < parts; ++part) {
    at::launch([&run_part, &others_done, part] {
      run_part(part);
      others_done.count_down();
    });
  }
  run_part(0);
  others_done.wait();
}

void add_noise_and_scale_many_(const std::vector<torch::Tensor>& values,
                               const std::vector<uint64_t>& first_blocks, double noise_std,
                               double scale, uint64_t seed, bool secure) {
  TORCH_CHECK(values.size() == first_blocks.size(), "one first block per tensor");
  std::vector<torch::Tensor> on_gpu;
  std::vector<uint64_t> gpu_blocks;
  for (size_t k = 0; k < values.size(); ++k) {
    auto tensor = values[k];
    switch (tensor.device().type()) {
      case torch::kCPU:
        add_noise_and_scale_cpu(tensor, noise_std, scale, seed, first_blocks[k], secure);
        break;
      case torch::kCUDA:
        on_gpu.push_back(tensor);
        gpu_blocks.push_back(first_blocks[k]);
        break;
      default:
        TORCH_CHECK(false, "add_noise_and_scale_: unsupported device ", tensor.device());
    }
  }
  if (on_gpu.empty()) return;
#if DPFORGE_WITH_CUDA_BRIDGE
  cuda::add_noise_and_scale(on_gpu, gpu_blocks, noise_std, scale, seed, secure);
#else
  TORCH_CHECK(false,
              "dpforge was built without its CUDA bridge (needs a CUDA LibTorch and nvcc): "
              "rebuild with scripts/build_cuda.sh, or train with run.device = cpu");
#endif
}

void add_noise_and_scale_(torch::Tensor& values, double noise_std, double scale, uint64_t seed,
                          uint64_t first_block, bool secure) {
  add_noise_and_scale_many_({values}, {first_block}, noise_std, scale, seed, secure);
}

torch::Tensor philox_normals(int64_t count, uint64_t seed, uint64_t first_block, bool secure) {
  auto values = torch::zeros({count}, torch::kFloat32);
  add_noise_and_scale_cpu(values, 1.0, 1.0, seed, first_block, secure);
  return values;
}

}  // namespace dpforge::dp
