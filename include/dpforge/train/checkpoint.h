// SPDX-License-Identifier: Apache-2.0
// Crash safety of a training run. A run folder holds
//   checkpoints/step-NNNNNNNNNN.ckpt  sealed snapshots (model, optimizer, sampler and noise stream
//                                     positions, accountant, canaries, metrics), newest two kept;
//   privacy_ledger.json               the steps (and their ε) the run has committed to, written
//                                     before those steps are taken.
// A snapshot at step s plus the seeds it holds determine steps s, s+1, … bit for bit, so resuming
// from it replays exactly what the crashed process computed: replayed steps are the same release,
// not new ones, and the accountant counts each step once.
#pragma once
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace dpforge::train {

/// One snapshot: a JSON state plus named tensors, the model and the inner optimizer.
struct Snapshot {
  nlohmann::json state;
  std::map<std::string, torch::Tensor> tensors;
};

/// Serializes a snapshot (LibTorch archive) for CheckpointStore::save.
std::string pack_snapshot(const Snapshot& snapshot, const torch::nn::Module& model,
                          const torch::optim::Optimizer& optimizer);
/// The JSON state of a packed snapshot alone (to check a resume before building anything).
nlohmann::json peek_snapshot_state(const std::string& payload);
/// Reads a packed snapshot back, loading `model` and `optimizer` in place.
Snapshot unpack_snapshot(const std::string& payload, torch::nn::Module& model,
                         torch::optim::Optimizer& optimizer);

/// The checkpoints/ folder of a run.
class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path run_dir);
  const std::filesystem::path& dir() const { return dir_; }

  /// Writes step-<step>.ckpt sealed and atomically, then deletes all but the newest two (the
  /// previous one stays until the new one is complete). InputError on an I/O failure.
  void save(int64_t step, const std::string& payload);

  struct Loaded {
    int64_t step = 0;
    std::filesystem::path path;
    std::string payload;
  };
  /// The newest intact checkpoint. Torn or corrupt ones are skipped with a message on `progress`
  /// (the previous one is used); leftovers of interrupted writes are deleted.
  std::optional<Loaded> load_latest(std::FILE* progress) const;

  /// Deletes the folder (after a finished run: the snapshots hold the secret noise key).
  void remove_all() const;

 private:
  std::filesystem::path dir_;
};

/// privacy_ledger.json: what a run has spent. reserve() is called before the steps it pays for,
/// so after a crash the ledger never shows less than was spent.
class PrivacyLedger {
 public:
  /// `identity` names the mechanism: accountant, σ, q, δ (and the budget, if any).
  /// `already_reserved`: what an earlier process of the same run committed to (resume).
  PrivacyLedger(std::filesystem::path path, nlohmann::json identity, int64_t already_reserved = 0);
  /// Commits to `steps` steps in total and records their ε (atomic write). Never lowers.
  void reserve(int64_t steps, double epsilon);
  /// Final entry: the steps taken and their ε.
  void finish(int64_t steps, double epsilon);
  int64_t reserved() const { return reserved_; }
  /// An existing ledger (nullopt when there is none); InputError when it is unreadable.
  static std::optional<nlohmann::json> read(const std::filesystem::path& path);
  /// InputError naming the first field of the mechanism in which `existing` (what an earlier
  /// process of the run wrote) differs from this ledger's: a resumed run continues its own plan.
  void check_continues(const nlohmann::json& existing) const;

 private:
  void write(const std::string& status, int64_t steps, double epsilon);
  std::filesystem::path path_;
  nlohmann::json identity_;
  int64_t reserved_ = 0;
};

/// Checkpointing of one training run, handed to the trainers. By default a checkpoint is written
/// every `seconds` of training (and before the first step and at the end): a fixed count of steps
/// or one per epoch would cost most of a short run on a small table, where a step takes
/// microseconds and a snapshot milliseconds, and is rarely enough on a long one.
struct RunCheckpoints {
  using Clock = std::chrono::steady_clock;
  explicit RunCheckpoints(std::filesystem::path run_dir)
      : store(run_dir), ledger_path(run_dir / "privacy_ledger.json") {}
  /// Steps the privacy ledger reserves at a time: `every`, else an epoch's.
  int64_t interval(int64_t steps_per_epoch) const { return every > 0 ? every : steps_per_epoch; }
  /// Whether a checkpoint is due after `steps` steps: every `every` steps when it is set, else
  /// once `seconds` have passed since the last one was written.
  bool due(int64_t steps) const {
    return every > 0 ? steps % every == 0
                     : std::chrono::duration<double>(Clock::now() - last_saved).count() >= seconds;
  }
  /// Packs and saves a snapshot, adding `identity`.
  void save(int64_t step, Snapshot snapshot, const torch::nn::Module& model,
            const torch::optim::Optimizer& optimizer);

  CheckpointStore store;
  /// Steps between checkpoints; 0 = by time (`seconds`).
  int64_t every = 0;
  /// Seconds of training between checkpoints when `every` is 0.
  double seconds = 60;
  /// Saved in every snapshot and compared on resume: resolved recipe values and the run's seeds.
  nlohmann::json identity;
  /// The snapshot to continue from (resume), else empty.
  std::optional<CheckpointStore::Loaded> resume_from;
  std::filesystem::path ledger_path;
  /// The step of the newest checkpoint written by this process (-1: none yet), and when it was
  /// finished.
  int64_t saved_step = -1;
  Clock::time_point last_saved = Clock::now();
};

/// Crash testing only: when $DPFORGE_CRASH_AFTER_STEP equals `steps_taken`, the process kills
/// itself with SIGKILL (no cleanup, no flush), as a power cut after that step would.
void crash_here_if_requested(int64_t steps_taken);

}  // namespace dpforge::train
