// SPDX-License-Identifier: Apache-2.0
// Live and peak bytes of LibTorch's CPU tensors: a counting wrapper around the CPU allocator, the
// CPU counterpart of torch.cuda.max_memory_allocated. Unlike the process's peak resident size it
// is exact per step, is not moved by heap fragmentation or by library code pages touched for the
// first time, and lets variants that take turns in one process each get their own peak.
#pragma once
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace dpforge {

class TensorMemoryMeter final : public c10::Allocator {
 public:
  /// Installs the meter as LibTorch's CPU allocator for the rest of the process (tensors made
  /// before keep their own deleters and are not counted).
  static TensorMemoryMeter& install() {
    static TensorMemoryMeter meter(c10::GetCPUAllocator());
    instance_ = &meter;
    c10::SetCPUAllocator(&meter, /*priority=*/100);
    return meter;
  }

  int64_t live_bytes() const { return live_.load(); }
  int64_t peak_bytes() const { return peak_.load(); }
  /// Starts a new peak from what is live now.
  void reset_peak() { peak_.store(live_.load()); }

  // A simple data pointer (context = data, one raw deleter), as oneDNN's raw_allocate requires.
  c10::DataPtr allocate(size_t bytes) override {
    void* data = inner_->raw_allocate(bytes);
    const auto size = static_cast<int64_t>(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[data] = size;
    }
    const int64_t live = live_.fetch_add(size) + size;
    for (int64_t peak = peak_.load(); live > peak && !peak_.compare_exchange_weak(peak, live);) {
    }
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }

 private:
  explicit TensorMemoryMeter(c10::Allocator* inner) : inner_(inner) {}

  static void release(void* data) {
    if (data == nullptr) return;
    auto& meter = *instance_;
    int64_t size = 0;
    {
      std::lock_guard<std::mutex> lock(meter.mutex_);
      const auto it = meter.sizes_.find(data);
      size = it->second;
      meter.sizes_.erase(it);
    }
    meter.live_.fetch_sub(size);
    meter.inner_->raw_deallocate(data);
  }

  static inline TensorMemoryMeter* instance_ = nullptr;
  c10::Allocator* inner_;
  std::mutex mutex_;
  std::unordered_map<void*, int64_t> sizes_;
  std::atomic<int64_t> live_{0}, peak_{0};
};

}  // namespace dpforge
