// SPDX-License-Identifier: Apache-2.0
#include "src/dp/cuda_bridge.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include "kernels/kernels.h"

namespace dpforge::dp::cuda {
namespace {

void check(int status, const char* what) {
  TORCH_CHECK(status == 0, "dpforge CUDA kernel ", what,
              " failed: ", kernels::error_string(status));
}

// The stream LibTorch's own operations on this tensor's device are queued on, so that kernels
// and torch operations stay in order without synchronizing.
cudaStream_t stream_of(const torch::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}

}  // namespace

void add_noise_and_scale(const std::vector<torch::Tensor>& values,
                         const std::vector<uint64_t>& first_blocks, double noise_std, double scale,
                         uint64_t seed, bool secure) {
  if (values.empty()) return;
  const c10::cuda::CUDAGuard guard(values.front().device());
  std::vector<kernels::NoiseSlice> slices;
  for (size_t k = 0; k < values.size(); ++k) {
    TORCH_CHECK(values[k].is_cuda() && values[k].is_contiguous() &&
                    values[k].scalar_type() == torch::kFloat32 &&
                    values[k].device() == values.front().device(),
                "noise is added to contiguous float32 tensors on one CUDA device");
    slices.push_back({values[k].data_ptr<float>(), values[k].numel(), first_blocks[k]});
  }
  check(kernels::add_noise_and_scale_many_f32(slices.data(), static_cast<int>(slices.size()),
                                              noise_std, scale, seed, secure,
                                              stream_of(values.front())),
        "add_noise_and_scale_many_f32");
}

torch::Tensor row_squared_norms(const torch::Tensor& rows) {
  const c10::cuda::CUDAGuard guard(rows.device());
  auto out = torch::empty({rows.size(0)}, rows.options());
  const int64_t row_length = rows.size(0) == 0 ? 0 : rows.numel() / rows.size(0);
  check(kernels::row_squared_norms_f32(rows.data_ptr<float>(), rows.size(0), row_length,
                                       out.data_ptr<float>(), stream_of(rows)),
        "row_squared_norms_f32");
  return out;
}

torch::Tensor weighted_row_sum(const torch::Tensor& factors, const torch::Tensor& rows) {
  const c10::cuda::CUDAGuard guard(rows.device());
  const int64_t row_length = rows.size(0) == 0 ? rows.numel() : rows.numel() / rows.size(0);
  auto out = torch::zeros({row_length}, rows.options());
  check(
      kernels::weighted_row_sum_f32(rows.data_ptr<float>(), factors.data_ptr<float>(), rows.size(0),
                                    row_length, out.data_ptr<float>(), stream_of(rows)),
      "weighted_row_sum_f32");
  return out;
}

torch::Tensor scale_rows(const torch::Tensor& rows, const torch::Tensor& factors) {
  const c10::cuda::CUDAGuard guard(rows.device());
  auto out = rows.clone();
  const int64_t row_length = rows.size(0) == 0 ? 0 : rows.numel() / rows.size(0);
  check(kernels::scale_rows_f32(out.data_ptr<float>(), factors.data_ptr<float>(), rows.size(0),
                                row_length, stream_of(rows)),
        "scale_rows_f32");
  return out;
}

torch::Tensor ghost_squared_norms(const torch::Tensor& a, const torch::Tensor& g) {
  const c10::cuda::CUDAGuard guard(a.device());
  auto out = torch::empty({a.size(0)}, a.options());
  check(kernels::ghost_norms_f32(a.data_ptr<float>(), g.data_ptr<float>(), a.size(0), a.size(1),
                                 a.size(2), g.size(2), out.data_ptr<float>(), stream_of(a)),
        "ghost_norms_f32");
  return out;
}

ops::ClipFactors clip_factors(const torch::Tensor& layer_squared, double max_norm, bool automatic,
                              double gamma) {
  const c10::cuda::CUDAGuard guard(layer_squared.device());
  const auto squared = layer_squared.contiguous();
  const int64_t batch = squared.size(1);
  ops::ClipFactors result;
  result.norms = torch::empty({batch}, squared.options());
  result.factors = torch::empty({batch}, squared.options());
  auto dropped = torch::zeros({1}, squared.options().dtype(torch::kInt64));
  check(kernels::clip_factors_f32(
            squared.data_ptr<float>(), squared.size(0), batch, static_cast<float>(max_norm),
            automatic, static_cast<float>(gamma), result.norms.data_ptr<float>(),
            result.factors.data_ptr<float>(),
            reinterpret_cast<unsigned long long*>(dropped.data_ptr<int64_t>()), stream_of(squared)),
        "clip_factors_f32");
  result.dropped = dropped.item<int64_t>();  // the one host sync of a step: the report counts drops
  return result;
}

int64_t peak_allocated_bytes(int device, bool reset) {
  namespace allocator = c10::cuda::CUDACachingAllocator;
  if (reset) allocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));  // peak := current
  const auto stats = allocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
      .peak;
}

}  // namespace dpforge::dp::cuda
