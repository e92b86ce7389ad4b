// SPDX-License-Identifier: Apache-2.0
// Thread counts that fit the CPUs a run may use (issue 26 item 1).
#include "dpforge/core/cpus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace dpforge::core {
namespace {

TEST(Cpus, CgroupQuotaFilesAreReadAsCpus) {
  EXPECT_EQ(cpu_max_limit("max 100000\n"), std::nullopt);
  EXPECT_EQ(cpu_max_limit("150000 100000\n"), 1.5);
  EXPECT_EQ(cpu_max_limit("200000 100000"), 2.0);
  EXPECT_EQ(cpu_max_limit("garbage"), std::nullopt);
  EXPECT_EQ(cpu_max_limit("0 100000"), std::nullopt);
  EXPECT_EQ(cfs_quota_limit("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(cfs_quota_limit("50000\n", "100000\n"), 0.5);
  EXPECT_EQ(cfs_quota_limit("", "100000"), std::nullopt);
}

TEST(Cpus, AutoTakesTheUsableCpusAndSharesThemBetweenRuns) {
  const char* saved = std::getenv("OMP_NUM_THREADS");
  const std::string restore = saved != nullptr ? saved : "";
  unsetenv("OMP_NUM_THREADS");
  const auto usable = usable_cpus();
  EXPECT_GE(usable.count, 1);
  EXPECT_THAT(usable.reason, ::testing::HasSubstr("in the affinity mask"));
  EXPECT_EQ(choose_threads(0).count, usable.count);
  EXPECT_EQ(choose_threads(0, 2).count, std::max<int64_t>(1, usable.count / 2));
  EXPECT_THAT(choose_threads(0, 2).reason, ::testing::HasSubstr("shared by 2 runs"));
  EXPECT_EQ(choose_threads(3).count, 3);
  EXPECT_EQ(choose_threads(3).reason, "run.threads = 3");
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(usable_cpus().count, 3);
  EXPECT_EQ(usable_cpus().reason, "OMP_NUM_THREADS=3");
  setenv("OMP_NUM_THREADS", "lots", 1);  // not a count: ignored
  EXPECT_EQ(usable_cpus().count, usable.count);
  if (saved != nullptr) {
    setenv("OMP_NUM_THREADS", restore.c_str(), 1);
  } else {
    unsetenv("OMP_NUM_THREADS");
  }
}

// A run confined to one CPU (taskset, as a CPU quota or a busy neighbour's pinning would) uses
// one thread and says so, in its first line and in report.json.
TEST(Cpus, ARunPinnedToOneCpuChoosesOneThreadAndSaysSo) {
  testing::TempDir dir;
  const auto result = testing::run_command(
      "env -u OMP_NUM_THREADS taskset -c 0 " + testing::kCli + " train " + testing::kQuickstart +
      " --set data.train_subset=1000 --set data.test_subset=200 --set train.epochs=1"
      " --set audit.enabled=false --set privacy.target_epsilon=8 --out " +
      (dir / "run").string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, ::testing::HasSubstr("| 1 thread (auto: 1 CPU in the affinity mask)"));
  const auto report = testing::read_json(dir / "run" / "report.json");
  EXPECT_EQ(report["threads"]["count"], 1);
  EXPECT_EQ(report["threads"]["reason"], "auto: 1 CPU in the affinity mask");
}

}  // namespace
}  // namespace dpforge::core
