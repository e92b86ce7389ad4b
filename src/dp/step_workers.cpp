// SPDX-License-Identifier: Apache-2.0
#include "dpforge/dp/step_workers.h"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

#include <algorithm>
#include <utility>

namespace dpforge::dp {

StepWorkers::StepWorkers(int64_t threads) : threads_(std::max<int64_t>(1, threads)) {
  if (threads_ == 1) return;
  // at::set_num_threads(1) in a worker also sets the default that threads started later inherit;
  // the caller's own setting is put back once every worker has made its own.
  const int caller_threads = at::get_num_threads();
  int64_t ready = 0;
  for (int64_t i = 0; i < threads_; ++i) {
    pool_.emplace_back([this, &ready] {
      // at::get_num_threads() first: LibTorch sets a new thread's count from the default on its
      // first parallel op (internal::lazy_init_num_threads), which would undo a setting made
      // before it.
      (void)at::get_num_threads();
      at::set_num_threads(1);
      {
        std::lock_guard lock(mutex_);
        ++ready;
      }
      done_.notify_one();
      work();
    });
  }
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return ready == threads_; });
  lock.unlock();
  at::set_num_threads(caller_threads);
}

StepWorkers::~StepWorkers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : pool_) thread.join();
}

void StepWorkers::for_each(int64_t count, const std::function<void(int64_t)>& task) {
  if (pool_.empty()) {
    for (int64_t i = 0; i < count; ++i) task(i);
    return;
  }
  if (count <= 0) return;
  const at::ThreadLocalState caller_state;
  const std::function<void(int64_t)> with_state = [&](int64_t i) {
    at::ThreadLocalStateGuard guard(caller_state);
    task(i);
  };
  std::unique_lock lock(mutex_);
  task_ = &with_state;
  count_ = count;
  next_ = 0;
  failure_ = nullptr;
  ++generation_;
  wake_.notify_all();
  done_.wait(lock, [&] { return next_ >= count_ && busy_ == 0; });
  task_ = nullptr;
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void StepWorkers::work() {
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    ++busy_;
    while (next_ < count_) {
      const int64_t index = next_++;
      const auto* task = task_;
      lock.unlock();
      std::exception_ptr thrown;
      try {
        (*task)(index);
      } catch (...) {
        thrown = std::current_exception();
      }
      lock.lock();
      if (thrown && !failure_) failure_ = thrown;
    }
    if (--busy_ == 0) done_.notify_one();
  }
}

}  // namespace dpforge::dp
