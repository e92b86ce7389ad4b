// SPDX-License-Identifier: Apache-2.0
// The threads a DP-SGD step runs on, one parallel region per phase instead of one per tensor op.
//
// LibTorch parallelises each op over its intra-op pool: a step of the quickstart MLP opens about 90
// OpenMP regions, each a fork and a join of every thread. Alone, the pool spins between regions and
// the joins are cheap; beside any other busy process one thread is descheduled at every join and
// the others spin through their time slice waiting for it: two 2-thread runs on 2 cores took 70 s
// each instead of 3.2 s (issue 26; docs/design.md, "Threads"). Here each physical batch runs whole
// on one worker with one intra-op thread, the workers take batches as they come free and sleep
// (not spin) between steps: one fork and one join per step, and a descheduled worker costs its own
// batch, not everybody's time slice.
//
// Example:
//   dp::StepWorkers workers(4);  // threads; 1 runs everything on the caller
//   std::vector<torch::Tensor> sums(batches);
//   workers.for_each(batches, [&](int64_t b) { sums[b] = clipped_sum_of(b); });
//   workers.run([&] { optimizer.step(); });  // a phase on one intra-op thread
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dpforge::dp {

class StepWorkers {
 public:
  /// `threads` >= 1 workers; with 1 the tasks run on the calling thread (no pool, its own intra-op
  /// setting).
  explicit StepWorkers(int64_t threads);
  ~StepWorkers();
  StepWorkers(const StepWorkers&) = delete;
  StepWorkers& operator=(const StepWorkers&) = delete;

  int64_t threads() const { return threads_; }

  /// Runs task(i) for every i in [0, count), each once, on the workers (which take the next index
  /// as they come free), and returns when all have finished; the caller's thread-local LibTorch
  /// state (grad mode and the like) holds in every task. The first exception a task throws is
  /// rethrown here, after the others finished.
  void for_each(int64_t count, const std::function<void(int64_t)>& task);

  /// Runs `task` on one worker (one intra-op thread) and waits for it.
  void run(const std::function<void()>& task) {
    for_each(1, [&task](int64_t) { task(); });
  }

 private:
  void work();

  const int64_t threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  // The current job, guarded by mutex_; a new generation wakes the workers.
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0, next_ = 0, busy_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> pool_;
};

}  // namespace dpforge::dp
