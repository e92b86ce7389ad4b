// SPDX-License-Identifier: Apache-2.0
#include "dpforge/train/checkpoint.h"

#include <fmt/format.h>
#include <torch/serialize.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "dpforge/core/error.h"
#include "dpforge/core/files.h"

namespace dpforge::train {
namespace {

constexpr int kSnapshotFormat = 1;
constexpr size_t kCheckpointsKept = 2;

// step-0000000042.ckpt → 42; anything else → nullopt.
std::optional<int64_t> step_of(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  if (name.size() != 20 || name.rfind("step-", 0) != 0 || name.substr(15) != ".ckpt")
    return std::nullopt;
  int64_t step = 0;
  for (char c : name.substr(5, 10)) {
    if (c < '0' || c > '9') return std::nullopt;
    step = step * 10 + (c - '0');
  }
  return step;
}

// Checkpoints in the folder, newest first.
std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(
    const std::filesystem::path& dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (const auto step = step_of(entry.path())) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return found;
}

}  // namespace

std::string pack_snapshot(const Snapshot& snapshot, const torch::nn::Module& model,
                          const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  nlohmann::json state = snapshot.state;
  state["format"] = kSnapshotFormat;
  state["tensor_names"] = nlohmann::json::array();
  torch::serialize::OutputArchive tensors;
  for (const auto& [name, tensor] : snapshot.tensors) {
    state["tensor_names"].push_back(name);
    tensors.write(name, tensor, /*is_buffer=*/true);
  }
  archive.write("state", c10::IValue(state.dump()));
  archive.write("tensors", tensors);
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

nlohmann::json peek_snapshot_state(const std::string& payload) {
  torch::serialize::InputArchive archive;
  archive.load_from(payload.data(), payload.size());
  c10::IValue state_text;
  archive.read("state", state_text);
  return nlohmann::json::parse(state_text.toStringRef());
}

Snapshot unpack_snapshot(const std::string& payload, torch::nn::Module& model,
                         torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive;
  archive.load_from(payload.data(), payload.size());
  c10::IValue state_text;
  archive.read("state", state_text);
  Snapshot snapshot;
  snapshot.state = nlohmann::json::parse(state_text.toStringRef());
  if (snapshot.state.value("format", 0) != kSnapshotFormat) {
    throw_input_error("checkpoint format {} is not the one this dpforge writes ({})",
                      snapshot.state.value("format", 0), kSnapshotFormat);
  }
  torch::serialize::InputArchive tensors;
  archive.read("tensors", tensors);
  for (const auto& name : snapshot.state.at("tensor_names")) {
    torch::Tensor tensor;
    tensors.read(name.get<std::string>(), tensor, /*is_buffer=*/true);
    snapshot.tensors[name.get<std::string>()] = tensor;
  }
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  model.load(model_archive);
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  optimizer.load(optimizer_archive);
  return snapshot;
}

CheckpointStore::CheckpointStore(std::filesystem::path run_dir)
    : dir_(std::move(run_dir) / "checkpoints") {}

void CheckpointStore::save(int64_t step, const std::string& payload) {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) throw_input_error("cannot create {}: {}", dir_.string(), error.message());
  write_sealed_file(dir_ / fmt::format("step-{:010d}.ckpt", step), payload);
  const auto found = list_checkpoints(dir_);
  for (size_t i = kCheckpointsKept; i < found.size(); ++i)
    std::filesystem::remove(found[i].second, error);
}

std::optional<CheckpointStore::Loaded> CheckpointStore::load_latest(std::FILE* progress) const {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, error)) {
    // A write the crash interrupted: never renamed into place, so never trusted.
    if (entry.path().extension() == ".partial") std::filesystem::remove(entry.path(), error);
  }
  for (const auto& [step, path] : list_checkpoints(dir_)) {
    std::string why;
    auto payload = read_sealed_file(path, why);
    if (payload) return Loaded{step, path, std::move(*payload)};
    if (progress != nullptr)
      fmt::print(progress, "checkpoint skipped: {}; trying the previous one\n", why);
  }
  return std::nullopt;
}

void CheckpointStore::remove_all() const {
  std::error_code error;
  std::filesystem::remove_all(dir_, error);
}

PrivacyLedger::PrivacyLedger(std::filesystem::path path, nlohmann::json identity,
                             int64_t already_reserved)
    : path_(std::move(path)), identity_(std::move(identity)), reserved_(already_reserved) {}

void PrivacyLedger::write(const std::string& status, int64_t steps, double epsilon) {
  nlohmann::json entry = identity_;
  entry["status"] = status;
  entry["steps"] = steps;
  entry["epsilon"] = epsilon;
  entry["meaning"] = status == "finished"
                         ? "the run took these steps and spent this epsilon"
                         : "committed before the steps were taken: the run has spent at most this "
                           "(a crashed run may have taken fewer steps)";
  write_file_atomic(path_, entry.dump(2) + "\n");
}

void PrivacyLedger::reserve(int64_t steps, double epsilon) {
  if (steps <= reserved_) return;
  write("running", steps, epsilon);
  reserved_ = steps;
}

void PrivacyLedger::finish(int64_t steps, double epsilon) {
  write("finished", steps, epsilon);
  reserved_ = std::max(reserved_, steps);
}

std::optional<nlohmann::json> PrivacyLedger::read(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error(
        "{} is unreadable ({}); it records the privacy this run spent: restore it "
        "from a backup before resuming",
        path.string(), error.what());
  }
}

void PrivacyLedger::check_continues(const nlohmann::json& existing) const {
  for (const auto& [key, planned] : identity_.items()) {
    const auto written = existing.find(key);
    if (written != existing.end() && *written == planned) continue;
    throw_input_error(
        "{}: the run's privacy ledger was written for {} = {}, and resuming now plans {} = {}: a "
        "run's mechanism cannot change while it runs (did its data change?); resume with the data "
        "and the recipe it started with, or start a new run",
        path_.string(), key, written != existing.end() ? written->dump() : "nothing", key,
        planned.dump());
  }
}

void RunCheckpoints::save(int64_t step, Snapshot snapshot, const torch::nn::Module& model,
                          const torch::optim::Optimizer& optimizer) {
  snapshot.state["identity"] = identity;
  snapshot.state["step"] = step;
  store.save(step, pack_snapshot(snapshot, model, optimizer));
  saved_step = step;
  last_saved = Clock::now();
}

void crash_here_if_requested(int64_t steps_taken) {
  static const int64_t crash_after = [] {
    const char* value = std::getenv("DPFORGE_CRASH_AFTER_STEP");
    return value != nullptr ? std::atoll(value) : -1;
  }();
  if (steps_taken == crash_after) std::raise(SIGKILL);
}

}  // namespace dpforge::train
