// SPDX-License-Identifier: Apache-2.0
// The run lifecycle as a user meets it, through the real CLI: a sweep never shows a run of another
// recipe, compare takes what the docs tell users to pass it, resume needs only the folder, and
// every message says what a folder holds and the one command that helps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dpforge/core/error.h"
#include "test_util.h"

namespace dpforge {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::kCli;
using testing::kQuickstart;
using testing::kSeededPrivateRun;
using ::testing::Not;
using testing::read_json;
using testing::read_text;
using testing::run_command;
using testing::TempDir;

// A non-private run of a second or so: 4 steps of a small MLP.
const std::string kTiny =
    " --set privacy.enabled=false --set data.train_subset=400 --set data.test_subset=200"
    " --set model.mlp_hidden=16 --set train.batch_size=100 --set train.epochs=1"
    " --set run.threads=1 --set train.seed=3";

std::string sweep(const std::string& out, const std::string& extra = "") {
  return kCli + " sweep " + kQuickstart + kTiny + " --grid train.lr=0.001,0.002 --out " + out +
         extra;
}

TEST(Lifecycle, SweepNeverReusesARunOfAnotherRecipe) {
  TempDir dir;
  const auto out = (dir / "s").string();
  ASSERT_EQ(run_command(sweep(out)).exit_code, kExitOk);
  const std::string first_report = read_text(dir / "s" / "lr=0.001" / "report.json");

  const auto same = run_command(sweep(out));
  EXPECT_EQ(same.exit_code, kExitOk) << same.output;
  EXPECT_THAT(same.output, HasSubstr("lr=0.002: finished earlier with the same recipe, skipped"));

  // Another recipe over the same folder: refused before anything runs, every stale point and its
  // differing key named, the old runs untouched.
  const auto changed = run_command(sweep(out, " --set train.epochs=2"));
  EXPECT_EQ(changed.exit_code, kExitBadInput) << changed.output;
  EXPECT_THAT(changed.output,
              AllOf(HasSubstr("2 points of this sweep already hold a run of another recipe"),
                    HasSubstr("lr=0.001 (finished run)"), HasSubstr("lr=0.002 (finished run)"),
                    HasSubstr("train.epochs: '1' in the run there, '2' in this sweep"),
                    HasSubstr("--rerun")));
  EXPECT_EQ(read_text(dir / "s" / "lr=0.001" / "report.json"), first_report);

  const auto rerun = run_command(sweep(out, " --set train.epochs=2 --rerun"));
  ASSERT_EQ(rerun.exit_code, kExitOk) << rerun.output;
  EXPECT_THAT(rerun.output, HasSubstr("recipe changed, training again (--rerun; the earlier run "
                                      "moved to"));
  // Set aside, not deleted: a private run's report and ledger record privacy spent on this data.
  EXPECT_EQ(read_text(dir / "s" / ".replaced" / "lr=0.001" / "report.json"), first_report);
  const auto summary = read_json(dir / "s" / "summary.json");
  ASSERT_EQ(summary["runs"].size(), 2U);
  for (const auto& run : summary["runs"]) EXPECT_EQ(run["steps"], 8) << run["name"];
  // Each point carries the hash of its resolved recipe, as its report does.
  EXPECT_EQ(summary["points"][0]["recipe_hash"],
            read_json(dir / "s" / "lr=0.001" / "report.json")["recipe"]["hash"]);
  EXPECT_NE(summary["points"][0]["recipe_hash"], summary["points"][1]["recipe_hash"]);
}

// --jobs 2: the points train two at a time, each a child process on its share of the CPUs, to the
// very runs a sweep one at a time gives (a private step on the CPU does not depend on the thread
// count: docs/design.md, "Threads"); a point that fails is named and the others go on.
TEST(Lifecycle, SweepJobsTrainTwoAtATimeToTheSameRunsAndNameAFailure) {
  TempDir dir;
  const std::string private_run =
      " --set data.train_subset=2000 --set data.test_subset=500 --set model.mlp_hidden=32"
      " --set train.batch_size=200 --set train.max_physical_batch=50 --set train.epochs=1"
      " --set privacy.accountant=rdp --set train.seed=11 --set audit.canaries=500";
  const std::string sigma = " privacy.noise_multiplier=1 privacy.target_epsilon=0";
  const std::string points = " --variant 'a: train.lr=0.001" + sigma +
                             "' --variant 'b: train.lr=0.003" + sigma +
                             "' --variant 'c: train.lr=0.01" + sigma +
                             "' --variant 'unreachable: privacy.target_epsilon=0.00001'";
  const auto sweep_with = [&](const std::string& out, const std::string& jobs) {
    return run_command(kCli + " sweep " + kQuickstart + private_run + points + " --out " +
                       (dir / out).string() + jobs);
  };
  const auto one_at_a_time = sweep_with("one", "");
  const auto two_at_a_time = sweep_with("two", " --jobs 2");
  for (const auto* sweep : {&one_at_a_time, &two_at_a_time}) {
    EXPECT_EQ(sweep->exit_code, kExitBadInput) << sweep->output;  // one point failed
    EXPECT_THAT(sweep->output, HasSubstr("sweep: 3 runs in"));
    EXPECT_THAT(sweep->output, HasSubstr("1 failed, 0 audit violations"));
  }
  EXPECT_THAT(two_at_a_time.output,
              AllOf(HasSubstr("2 running"), HasSubstr("4/4 done"),
                    HasSubstr("unreachable failed: privacy.target_epsilon = 1e-05 is unreachable"),
                    HasSubstr("(log: " + (dir / "two" / ".logs" / "a.log").string() + ")")));
  const auto summary = read_json(dir / "two" / "summary.json");
  ASSERT_EQ(summary["failures"].size(), 1U);
  EXPECT_EQ(summary["failures"][0]["run"], "unreachable");
  EXPECT_THAT(summary["failures"][0]["error"].get<std::string>(), HasSubstr("unreachable"));
  for (const std::string point : {"a", "b", "c"}) {
    EXPECT_EQ(read_text(dir / "two" / point / "model.pt"),
              read_text(dir / "one" / point / "model.pt"))
        << point;
    EXPECT_THAT(read_text(dir / "two" / ".logs" / (point + ".log")), HasSubstr("report: "));
    const auto report = read_json(dir / "two" / point / "report.json");
    EXPECT_THAT(report["threads"]["reason"].get<std::string>(), HasSubstr("shared by 2 runs"));
  }
}

TEST(Lifecycle, CompareTakesRunFoldersSweepFoldersAndGlobsOverThem) {
  TempDir dir;
  const auto out = (dir / "s").string();
  ASSERT_EQ(run_command(sweep(out)).exit_code, kExitOk);
  const auto whole = run_command(kCli + " compare --json " + out);
  ASSERT_EQ(whole.exit_code, kExitOk) << whole.output;
  const auto rows = nlohmann::json::parse(whole.output);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0]["name"], "lr=0.001");
  EXPECT_EQ(rows[1]["name"], "lr=0.002");
  // The README's `compare runs/defenses/*`: the glob also yields summary.json and summary.txt.
  const auto glob = run_command(kCli + " compare --json " + out + "/*");
  ASSERT_EQ(glob.exit_code, kExitOk) << glob.output;
  EXPECT_EQ(nlohmann::json::parse(glob.output), rows);
  // A run named twice (by itself and through its sweep) is one row.
  const auto twice = run_command(kCli + " compare --json " + out + " " + out + "/lr=0.002");
  EXPECT_EQ(nlohmann::json::parse(twice.output).size(), 2U);

  // A point that failed or is still running leaves a folder without a report: a glob over the
  // sweep skips it, says so, and compares the rest.
  std::filesystem::create_directories(dir / "s" / "failed");
  std::filesystem::copy_file(dir / "s" / "lr=0.001" / "recipe.ini",
                             dir / "s" / "failed" / "recipe.ini");
  const auto partial = run_command(kCli + " compare " + out + "/*");
  EXPECT_EQ(partial.exit_code, kExitOk) << partial.output;
  EXPECT_THAT(partial.output, AllOf(HasSubstr("compare: skipped " + out + "/failed: unfinished"),
                                    HasSubstr("lr=0.001"), HasSubstr("lr=0.002")));

  std::filesystem::create_directories(dir / "empty");
  const auto empty = run_command(kCli + " compare " + (dir / "empty").string());
  EXPECT_EQ(empty.exit_code, kExitBadInput);
  EXPECT_THAT(empty.output, HasSubstr("no report.json"));
  const auto missing = run_command(kCli + " compare " + (dir / "nothing").string());
  EXPECT_EQ(missing.exit_code, kExitBadInput);
  EXPECT_THAT(missing.output, HasSubstr("no such file or folder"));
}

TEST(Lifecycle, MessagesSayWhatTheFolderHoldsAndTheOneCommandThatHelps) {
  TempDir dir;
  const auto finished = (dir / "finished").string();
  ASSERT_EQ(run_command(kCli + " train " + kQuickstart + kTiny + " --out " + finished).exit_code,
            kExitOk);
  auto result = run_command(kCli + " train " + kQuickstart + kTiny + " --out " + finished);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output,
              AllOf(HasSubstr("holds a finished run"), HasSubstr("dpforge report " + finished),
                    Not(HasSubstr("unfinished")), Not(HasSubstr("--resume"))));
  result = run_command(kCli + " train --resume " + finished);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, AllOf(HasSubstr("holds a finished run"),
                                   HasSubstr("nothing to resume"), Not(HasSubstr("unfinished"))));

  const auto unfinished = (dir / "unfinished").string();
  ASSERT_NE(run_command("DPFORGE_CRASH_AFTER_STEP=2 " + kCli + " train " + kQuickstart + kTiny +
                        " --set train.checkpoint_every=1 --out " + unfinished)
                .exit_code,
            kExitOk);
  result = run_command(kCli + " train " + kQuickstart + kTiny + " --out " + unfinished);
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, AllOf(HasSubstr("holds an unfinished run"),
                                   HasSubstr("dpforge train --resume " + unfinished)));

  std::filesystem::create_directories(dir / "photos");
  testing::write_text(dir / "photos" / "cat.jpg", "not a run");
  result = run_command(kCli + " train --resume " + (dir / "photos").string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, HasSubstr("not a dpforge run folder"));
  result = run_command(kCli + " train --resume " + (dir / "nothing").string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, HasSubstr("no such folder"));
  result = run_command(kCli + " train");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, AllOf(HasSubstr("missing RECIPE"), HasSubstr("--resume DIR")));
}

TEST(Lifecycle, ResumeFromTheFolderAloneIsBitIdenticalAndNamesEveryDifferenceAtOnce) {
  TempDir dir;
  const auto whole = dir / "whole", run = dir / "run";
  ASSERT_EQ(
      run_command(kCli + " train " + kQuickstart + kSeededPrivateRun + " --out " + whole.string())
          .exit_code,
      kExitOk);
  ASSERT_NE(run_command("DPFORGE_CRASH_AFTER_STEP=10 " + kCli + " train " + kQuickstart +
                        kSeededPrivateRun + " --out " + run.string())
                .exit_code,
            kExitOk);
  EXPECT_TRUE(std::filesystem::exists(run / "recipe.ini"));

  // Two changed keys and a recipe file without the run's --set values: all named in one message.
  auto result = run_command(kCli + " train --resume " + run.string() +
                            " --set privacy.noise_multiplier=2 --set train.lr=0.5");
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output,
              AllOf(HasSubstr("2 recipe keys differ"), HasSubstr("privacy.noise_multiplier"),
                    HasSubstr("train.lr"), HasSubstr("privacy accounting"),
                    HasSubstr("--set privacy.noise_multiplier=1")));
  result = run_command(kCli + " train " + kQuickstart + " --resume " + run.string());
  EXPECT_EQ(result.exit_code, kExitBadInput);
  EXPECT_THAT(result.output, AllOf(HasSubstr("data.train_subset"), HasSubstr("train.batch_size"),
                                   HasSubstr("train.seed"), HasSubstr("privacy.accountant")));

  result = run_command(kCli + " train --resume " + run.string());
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  EXPECT_THAT(result.output, HasSubstr("resuming from"));
  const std::string model = read_text(run / "model.pt");
  EXPECT_FALSE(model.empty());
  EXPECT_EQ(model, read_text(whole / "model.pt"));
  EXPECT_EQ(read_json(run / "report.json")["privacy"]["epsilon"],
            read_json(whole / "report.json")["privacy"]["epsilon"]);
}

// What a process killed during start-up leaves: the stored recipe, and a first checkpoint whose
// write never completed. Neither a fresh start nor a resume may be refused because of it.
TEST(Lifecycle, ARunKilledDuringStartUpDoesNotBlockTheNextAttempt) {
  TempDir dir;
  ASSERT_EQ(
      run_command(kCli + " train " + kQuickstart + kTiny + " --out " + (dir / "done").string())
          .exit_code,
      kExitOk);
  for (const std::string name : {"again", "resumed"}) {
    std::filesystem::create_directories(dir / name / "checkpoints");
    std::filesystem::copy_file(dir / "done" / "recipe.ini", dir / name / "recipe.ini");
    testing::write_text(dir / name / "checkpoints" / "step-0000000000.ckpt.partial", "torn");
  }
  auto result =
      run_command(kCli + " train " + kQuickstart + kTiny + " --out " + (dir / "again").string());
  EXPECT_EQ(result.exit_code, kExitOk) << result.output;
  result = run_command(kCli + " train --resume " + (dir / "resumed").string());
  EXPECT_EQ(result.exit_code, kExitOk) << result.output;
  EXPECT_THAT(result.output,
              HasSubstr("no private step was taken; starting it from the beginning"));
  EXPECT_EQ(read_text(dir / "resumed" / "model.pt"), read_text(dir / "done" / "model.pt"));
}

// report.json's recipe holds typed values (numbers, booleans, null for an unset seed), which
// compare and `dpforge audit` read back as recipe text.
TEST(Lifecycle, ReportStoresTypedRecipeValues) {
  TempDir dir;
  const auto out = (dir / "run").string();
  ASSERT_EQ(run_command(kCli + " train " + kQuickstart + kTiny + " --out " + out).exit_code,
            kExitOk);
  const auto values = read_json(dir / "run" / "report.json")["recipe"]["values"];
  EXPECT_EQ(values["train.epochs"], 1);
  EXPECT_EQ(values["train.lr"], 0.002);
  EXPECT_EQ(values["privacy.enabled"], false);
  EXPECT_EQ(values["train.seed"], 3);
  EXPECT_EQ(values["model.arch"], "mlp");
  // ROC points are labelled, not bare pairs.
  const auto roc = read_json(dir / "run" / "report.json")["mia"]["loss"]["roc"];
  ASSERT_TRUE(roc.is_object());
  EXPECT_GT(roc["fpr"].size(), 2U);
  EXPECT_EQ(roc["fpr"].size(), roc["tpr"].size());
  const auto rows = run_command(kCli + " compare --json " + out);
  ASSERT_EQ(rows.exit_code, kExitOk) << rows.output;
  EXPECT_EQ(nlohmann::json::parse(rows.output)[0]["defense"], "none");
}

// The reproduction (q = 0.68, 3 steps): warned before training, kept in report.json, and
// carried into the compare table with the TPR the 3,000 non-members cannot resolve.
TEST(Lifecycle, MeaninglessSettingsAreWarnedAboutBeforeTrainingAndInTheReport) {
  TempDir dir;
  const auto out = (dir / "q1").string();
  const auto result = run_command(kCli + " train " + kQuickstart +
                                  " --set data.train_subset=3000 --set train.batch_size=2048 "
                                  "--set train.epochs=2 --set audit.canaries=500 --out " +
                                  out);
  ASSERT_EQ(result.exit_code, kExitOk) << result.output;
  const auto warned = result.output.find("warning: q = 0.683");
  EXPECT_NE(warned, std::string::npos) << result.output;
  EXPECT_LT(warned, result.output.find("DP-SGD: q"));  // before training, not after
  // Progress a user can trust: ε so far on the progress line (labelled; piped, the run's first
  // step line and then one per 10 s), no silent phase after.
  EXPECT_THAT(
      result.output,
      AllOf(HasSubstr("step 1/3"), HasSubstr("eps 2.446 by step 2 (pld)"),
            HasSubstr("epsilon 3.0000"), Not(HasSubstr("step 2/3")),
            HasSubstr("audit: white-box verdict over 500 canaries"),
            HasSubstr("canaries (bounds and conformance tests): done in"),
            HasSubstr("attack: LOSS and modified entropy, 3000 members vs 3000 non-members: "
                      "done in"),
            HasSubstr("sensitivity check: pass (")));
  EXPECT_THAT(result.output, AllOf(HasSubstr("warning: only 3 steps"),
                                   HasSubstr("above a quarter of the 3000 training examples"),
                                   HasSubstr("TPR"), HasSubstr("(unresolved")));
  const auto report = read_json(dir / "q1" / "report.json");
  // A diagnostic of the private data (its examples' norms): never in the privacy object.
  EXPECT_EQ(report["diagnostics"]["sensitivity_check"]["status"], "pass");
  EXPECT_FALSE(report["privacy"].contains("sensitivity_check"));
  ASSERT_EQ(report["warnings"].size(), 3U);
  EXPECT_EQ(report["warnings"][0]["check"], "sample_rate");
  EXPECT_EQ(report["mia"]["loss"]["tpr_at_fpr_resolved"]["0.001"], false);
  EXPECT_EQ(report["mia"]["loss"]["tpr_at_fpr_resolved"]["0.01"], true);
  const auto table = run_command(kCli + " compare " + out);
  EXPECT_THAT(table.output,
              AllOf(HasSubstr("note: quickstart was trained with warnings: q 0.683 > 0.1; 3 steps "
                              "< 100; batch 2048 > N/4"),
                    HasSubstr("* unresolved")));
}

}  // namespace
}  // namespace dpforge
