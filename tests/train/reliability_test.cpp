// SPDX-License-Identifier: Apache-2.0
// Crash safety (checkpoints, resume, the privacy ledger) and hostile conditions (torn files, full
// disk, unwritable folders, divergence), through the real CLI in subprocesses.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dpforge/core/allocator.h"
#include "dpforge/core/error.h"
#include "dpforge/core/files.h"
#include "dpforge/train/checkpoint.h"
#include "test_util.h"

namespace dpforge {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::kCli;
using testing::kQuickstart;
using testing::kSeededPrivateRun;
using testing::read_json;
using testing::read_text;
using testing::run_command;
using testing::TempDir;

bool same_bytes(const std::filesystem::path& a, const std::filesystem::path& b) {
  const std::string x = read_text(a), y = read_text(b);
  return !x.empty() && x == y;
}

std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, error)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(SealedFile, RoundTripsAndDetectsTornAndFlippedBytes) {
  TempDir dir;
  const auto path = dir / "x.ckpt";
  const std::string payload(100000, 'a');
  write_sealed_file(path, payload);
  std::string why;
  ASSERT_EQ(read_sealed_file(path, why), payload);

  std::string bytes = read_text(path);
  testing::write_text(path, bytes.substr(0, bytes.size() - 7));  // torn: trailer cut
  EXPECT_FALSE(read_sealed_file(path, why));
  EXPECT_THAT(why, HasSubstr("truncated"));

  testing::write_text(path, bytes.substr(0, 5000) + bytes.substr(6000));  // torn: middle missing
  EXPECT_FALSE(read_sealed_file(path, why));
  EXPECT_THAT(why, HasSubstr("torn"));

  bytes[1234] ^= 0x10;  // one flipped bit
  testing::write_text(path, bytes);
  EXPECT_FALSE(read_sealed_file(path, why));
  EXPECT_THAT(why, HasSubstr("checksum"));
  EXPECT_FALSE(read_sealed_file(dir / "missing.ckpt", why));
}

TEST(CheckpointStore, KeepsTheNewestTwoAndFallsBackPastACorruptOne) {
  TempDir dir;
  train::CheckpointStore store(dir.path());
  for (int step : {0, 4, 8, 12}) store.save(step, "payload " + std::to_string(step));
  EXPECT_EQ(names_in(store.dir()),
            (std::vector<std::string>{"step-0000000008.ckpt", "step-0000000012.ckpt"}));

  testing::write_text(store.dir() / "step-0000000012.ckpt", "garbage");
  testing::write_text(store.dir() / "step-0000000016.ckpt.partial", "interrupted write");
  std::FILE* log = std::tmpfile();
  const auto loaded = store.load_latest(log);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->step, 8);
  EXPECT_EQ(loaded->payload, "payload 8");
  std::rewind(log);
  char text[512] = {};
  EXPECT_GT(std::fread(text, 1, sizeof text - 1, log), 0U);
  std::fclose(log);
  EXPECT_THAT(std::string(text),
              AllOf(HasSubstr("checkpoint skipped"), HasSubstr("step-0000000012.ckpt")));
  EXPECT_FALSE(std::filesystem::exists(store.dir() / "step-0000000016.ckpt.partial"));
}

// The acceptance test of crash safety: SIGKILL after step 10 (two steps past the last checkpoint),
// the newest checkpoint then torn on disk, resume: identical weights, epsilon and audit.
TEST(Resume, PrivateRunKilledAndResumedIsBitIdenticalAndNeverUnderReportsEpsilon) {
  TempDir dir;
  const auto whole = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --out " +
                                 (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, kExitOk) << whole.output;
  EXPECT_FALSE(
      std::filesystem::exists(dir / "whole" / "checkpoints"));  // deleted: they hold the noise key

  const auto crashed = run_command("DPFORGE_CRASH_AFTER_STEP=10 " + kCli + " train " + kQuickstart +
                                   kSeededPrivateRun + " --out " + (dir / "run").string());
  ASSERT_NE(crashed.exit_code, kExitOk) << crashed.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "report.json"));
  // The ledger was written before steps 9-12 were taken: it covers the 10 taken.
  const auto ledger = read_json(dir / "run" / "privacy_ledger.json");
  EXPECT_EQ(ledger["status"], "running");
  EXPECT_GE(ledger["steps"].get<int64_t>(), 10);
  EXPECT_EQ(names_in(dir / "run" / "checkpoints"),
            (std::vector<std::string>{"step-0000000004.ckpt", "step-0000000008.ckpt"}));

  // A crash in the middle of writing the newest checkpoint.
  const auto newest = dir / "run" / "checkpoints" / "step-0000000008.ckpt";
  const std::string bytes = read_text(newest);
  testing::write_text(newest, bytes.substr(0, bytes.size() / 2));

  const auto resumed = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun +
                                   " --resume " + (dir / "run").string());
  ASSERT_EQ(resumed.exit_code, kExitOk) << resumed.output;
  EXPECT_THAT(resumed.output, AllOf(HasSubstr("checkpoint skipped"), HasSubstr("resuming from"),
                                    HasSubstr("step 4 of 20")));
  EXPECT_TRUE(same_bytes(dir / "whole" / "model.pt", dir / "run" / "model.pt"));
  const auto a = read_json(dir / "whole" / "report.json"),
             b = read_json(dir / "run" / "report.json");
  EXPECT_EQ(a["privacy"]["epsilon"], b["privacy"]["epsilon"]);
  EXPECT_EQ(b["privacy"]["steps"], 20);
  EXPECT_GE(b["privacy"]["epsilon"].get<double>(), ledger["epsilon"].get<double>());
  EXPECT_EQ(a["audit"]["epsilon_lower_bound"], b["audit"]["epsilon_lower_bound"]);
  EXPECT_EQ(a["test_accuracy"], b["test_accuracy"]);
  EXPECT_EQ(b["resumed"], true);
  const auto final_ledger = read_json(dir / "run" / "privacy_ledger.json");
  EXPECT_EQ(final_ledger["status"], "finished");
  EXPECT_EQ(final_ledger["epsilon"], b["privacy"]["epsilon"]);
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "checkpoints"));

  const auto again = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --resume " +
                                 (dir / "run").string());
  EXPECT_EQ(again.exit_code, kExitBadInput);
  EXPECT_THAT(again.output, AllOf(HasSubstr("holds a finished run"), HasSubstr("nothing to resume"),
                                  HasSubstr("dpforge report")));
}

// A resumed run continues its own mechanism: when what it plans now differs from what its ledger
// was written for (here σ, as when the data behind a DP count changed), it refuses to go on.
TEST(Resume, ALedgerOfAnotherMechanismIsRefused) {
  TempDir dir;
  const auto crashed = run_command("DPFORGE_CRASH_AFTER_STEP=6 " + kCli + " train " + kQuickstart +
                                   kSeededPrivateRun + " --out " + (dir / "run").string());
  ASSERT_NE(crashed.exit_code, kExitOk) << crashed.output;
  const auto path = dir / "run" / "privacy_ledger.json";
  auto ledger = read_json(path);
  const double sigma = ledger["noise_multiplier"].get<double>();
  ledger["noise_multiplier"] = 2 * sigma;
  testing::write_text(path, ledger.dump(2));
  const auto resumed = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun +
                                   " --resume " + (dir / "run").string());
  EXPECT_EQ(resumed.exit_code, kExitBadInput) << resumed.output;
  EXPECT_THAT(resumed.output, AllOf(HasSubstr("privacy_ledger.json"),
                                    HasSubstr(fmt::format("written for noise_multiplier = {}",
                                                          nlohmann::json(2 * sigma).dump())),
                                    HasSubstr("mechanism cannot change while it runs")));
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "report.json"));
  EXPECT_EQ(read_json(path), ledger);  // the ledger is left as it was
}

TEST(Resume, NonPrivateRunKilledAndResumedIsBitIdentical) {
  TempDir dir;
  const std::string run =
      kSeededPrivateRun + " --set privacy.enabled=false --set train.checkpoint_every=3";
  ASSERT_EQ(run_command(kCli + " train " + kQuickstart + run + " --out " + (dir / "whole").string())
                .exit_code,
            kExitOk);
  EXPECT_NE(run_command("DPFORGE_CRASH_AFTER_STEP=14 " + kCli + " train " + kQuickstart + run +
                        " --out " + (dir / "run").string())
                .exit_code,
            kExitOk);
  const auto resumed =
      run_command(kCli + " train " + kQuickstart + run + " --resume " + (dir / "run").string());
  ASSERT_EQ(resumed.exit_code, kExitOk) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("step 12 of 20"));
  EXPECT_TRUE(same_bytes(dir / "whole" / "model.pt", dir / "run" / "model.pt"));
  EXPECT_EQ(read_json(dir / "whole" / "report.json")["epochs"].size(),
            read_json(dir / "run" / "report.json")["epochs"].size());
}

TEST(Resume, RefusesAChangedRecipeAndAFreshRunInAnUnfinishedFolder) {
  TempDir dir;
  const auto out = (dir / "run").string();
  ASSERT_NE(run_command("DPFORGE_CRASH_AFTER_STEP=5 " + kCli + " train " + kQuickstart +
                        kSeededPrivateRun + " --out " + out)
                .exit_code,
            kExitOk);
  auto result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun +
                            " --set privacy.noise_multiplier=2 --resume " + out);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output,
              AllOf(HasSubstr("privacy.noise_multiplier"), HasSubstr("privacy accounting"),
                    HasSubstr("--set privacy.noise_multiplier=1")));
  result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun +
                       " --set train.lr=0.5 --resume " + out);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, AllOf(HasSubstr("train.lr"), HasSubstr("bit for bit")));
  result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --out " + out);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, HasSubstr("--resume"));
  result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --resume " +
                       (dir / "nothing").string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  // Allowed: how often to checkpoint.
  result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun +
                       " --set train.checkpoint_every=7 --resume " + out);
  EXPECT_EQ(result.exit_code, kExitOk) << result.output;
}

TEST(HostileConditions, FullDiskDuringACheckpointExitsTwoAndLeavesNoPartialFile) {
  TempDir dir;
  // A file-size limit stands in for a full disk: writes past it fail with EFBIG.
  const auto result =
      run_command("bash -c \"trap '' XFSZ; ulimit -f 64; exec " + kCli + " train " + kQuickstart +
                  kSeededPrivateRun + " --out " + (dir / "run").string() + "\"");
  EXPECT_EQ(result.exit_code, kExitBadInput) << result.output;
  EXPECT_THAT(result.output, AllOf(HasSubstr("cannot write"), HasSubstr("step-0000000000.ckpt"),
                                   HasSubstr("File too large")));
  for (const auto& name : names_in(dir / "run"))
    EXPECT_THAT(name, ::testing::Not(HasSubstr("partial")));
  EXPECT_FALSE(std::filesystem::exists(dir / "run" / "report.json"));
}

TEST(HostileConditions, UnwritableOutputFolderExitsTwoBeforeTraining) {
  TempDir dir;
  testing::write_text(dir / "file", "not a folder");
  const auto result = run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --out " +
                                  (dir / "file" / "run").string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, HasSubstr("cannot create the output folder"));
}

TEST(HostileConditions, DivergingLearningRateStopsCleanlyWithAReport) {
  TempDir dir;
  for (const std::string privacy : {"true", "false"}) {
    const auto out = dir / ("run-" + privacy);
    const auto result = run_command(
        kCli + " train " + kQuickstart + kSeededPrivateRun + " --set privacy.enabled=" + privacy +
        " --set train.optimizer=sgd --set train.lr=1e5 --set train.weight_decay=1e5 --out " +
        out.string());
    EXPECT_EQ(result.exit_code, kExitBadInput) << result.output;
    EXPECT_THAT(result.output, AllOf(HasSubstr("NaN/Inf"), HasSubstr("train.lr")));
    const auto report = read_json(out / "report.json");
    EXPECT_THAT(report["stopped"].get<std::string>(), HasSubstr("diverged"));
    EXPECT_FALSE(std::filesystem::exists(out / "model.pt"));
    EXPECT_FALSE(std::filesystem::exists(out / "checkpoints"));
    if (privacy == "true") {
      EXPECT_GT(report["privacy"]["epsilon"].get<double>(), 0);
    }
  }
}

// Long runs must not grow the heap step after step: when the build links jemalloc, it must have
// taken dpforge's start-up options (freed pages kept for the next step, no purging arena for
// large tensors); a build without it runs on glibc malloc. Same linking as the executables.
TEST(HostileConditions, HeapAllocatorIsTheConfiguredOne) {
#if DPFORGE_LINKED_JEMALLOC
  EXPECT_THAT(heap_allocator(),
              AllOf(::testing::StartsWith("jemalloc"), HasSubstr("dirty_decay_ms -1"),
                    HasSubstr("oversize_threshold 0")));
#else
  EXPECT_EQ(heap_allocator(), "glibc malloc");
#endif
}

}  // namespace
}  // namespace dpforge
