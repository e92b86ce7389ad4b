// SPDX-License-Identifier: Apache-2.0
#include "dpforge/config/recipe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "dpforge/core/error.h"
#include "test_util.h"

namespace dpforge::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::write_text;

std::string load_error(const std::string& text, const std::vector<std::string>& overrides = {}) {
  TempDir dir;
  const auto path = dir / "bad.ini";
  write_text(path, text);
  try {
    load_recipe(path.string(), overrides);
  } catch (const InputError& error) {
    return error.what();
  }
  return "no error";
}

TEST(Recipe, ReadsTypedValuesAndKeepsDefaults) {
  TempDir dir;
  write_text(dir / "r.ini",
             "# comment\n[model]\narch = mlp\n[train]\nlr = 0.05\nepochs=3\noptimizer = adamw\n"
             "seed = 42\n[data]\ntrain_subset = 1000\n");
  const auto recipe = load_recipe((dir / "r.ini").string());
  EXPECT_EQ(recipe.model.arch(), nn::Arch::kMlp);
  EXPECT_DOUBLE_EQ(recipe.train.lr(), 0.05);
  EXPECT_EQ(recipe.train.epochs(), 3);
  EXPECT_EQ(recipe.train.optimizer(), config::OptimizerKind::kAdamW);
  ASSERT_TRUE(recipe.train.seed().has_value());
  EXPECT_EQ(*recipe.train.seed(), 42U);
  EXPECT_EQ(recipe.data.train_subset(), 1000);
  EXPECT_EQ(recipe.train.batch_size(), TrainOptions().batch_size());
  EXPECT_EQ(recipe.run.name(), "r");  // defaults to the file stem
}

TEST(Recipe, OverridesWinOverTheFile) {
  TempDir dir;
  write_text(dir / "r.ini", "[train]\nlr = 0.05\n");
  const auto recipe = load_recipe((dir / "r.ini").string(), {"train.lr=0.5", "model.arch = mlp"});
  EXPECT_DOUBLE_EQ(recipe.train.lr(), 0.5);
  EXPECT_EQ(recipe.model.arch(), nn::Arch::kMlp);
}

TEST(Recipe, UnknownKeyNamesFileKeyAndAllowedKeys) {
  const auto message = load_error("[train]\nlearning_rate = 0.1\n");
  EXPECT_THAT(message, AllOf(HasSubstr("bad.ini"), HasSubstr("unknown key 'train.learning_rate'"),
                             HasSubstr("train.lr")));
}

// A key that was removed (privacy.fault) still loads at the value every run had, so old recipes
// and run folders read as before; any other value is refused, saying where its job went.
TEST(Recipe, ARetiredKeyIsAcceptedAtItsOldValueOnly) {
  EXPECT_EQ(load_error("[privacy]\nenabled = true\ntarget_epsilon = 1\nfault = none\n"),
            "no error");
  EXPECT_EQ(load_error("[privacy]\nenabled = true\ntarget_epsilon = 1\n", {"privacy.fault=none"}),
            "no error");
  for (const auto& message : {load_error("[privacy]\nenabled = true\nfault = no_noise\n"),
                              load_error("", {"privacy.fault=half_noise"})}) {
    EXPECT_THAT(message, AllOf(HasSubstr("privacy.fault"), HasSubstr("the key was removed"),
                               HasSubstr("mutation suite"), HasSubstr("only 'none'")));
  }
  for (const auto& key : recipe_keys()) EXPECT_EQ(find_retired_key(key.key), nullptr) << key.key;
}

TEST(Recipe, UnknownSectionListsSections) {
  EXPECT_THAT(load_error("[optim]\nlr = 0.1\n"),
              AllOf(HasSubstr("unknown key 'optim.lr'"), HasSubstr("[train]")));
}

TEST(Recipe, WrongTypeNamesKeyAndExpectedType) {
  EXPECT_THAT(load_error("[train]\nepochs = ten\n"),
              AllOf(HasSubstr("bad.ini"), HasSubstr("train.epochs = 'ten'"),
                    HasSubstr("an integer in [1, 100000]")));
  EXPECT_THAT(load_error("[privacy]\nenabled = maybe\n"), HasSubstr("expected true or false"));
}

TEST(Recipe, NegativeLearningRateIsRejected) {
  EXPECT_THAT(load_error("[train]\nlr = -0.1\n"),
              AllOf(HasSubstr("train.lr = '-0.1'"), HasSubstr("a number in (0, 1e+15]")));
}

TEST(Recipe, NonFiniteAndTrailingGarbageAreRejected) {
  EXPECT_THAT(load_error("[train]\nlr = nan\n"), HasSubstr("train.lr = 'nan'"));
  EXPECT_THAT(load_error("[train]\nlr = inf\n"), HasSubstr("train.lr = 'inf'"));
  EXPECT_THAT(load_error("[train]\nepochs = 3x\n"), HasSubstr("train.epochs = '3x'"));
  EXPECT_THAT(load_error("[train]\nepochs = 99999999999999999999\n"), HasSubstr("train.epochs"));
}

// Values at and past the limits of every type, for every key: each is either accepted or refused
// with an InputError naming the key; nothing else may escape (no crash, no other exception).
TEST(Recipe, ValuesAtTypeLimitsAreAcceptedOrRefusedByNameForEveryKey) {
  const std::vector<std::string> hostile = {"9223372036854775807",
                                            "9223372036854775808",
                                            "-9223372036854775808",
                                            "18446744073709551615",
                                            "18446744073709551616",
                                            "1e308",
                                            "1e309",
                                            "-0",
                                            "4.9e-324",
                                            "nan",
                                            "-inf",
                                            "",
                                            "0x10",
                                            " 1",
                                            "1 2",
                                            std::string(5000, '9'),
                                            "\xff\xfe",
                                            "true"};
  for (const auto& key : recipe_keys()) {
    for (const auto& value : hostile) {
      Recipe recipe;
      try {
        apply_overrides(recipe, {key.key + "=" + value});
      } catch (const InputError& error) {
        EXPECT_THAT(error.what(), HasSubstr(key.key)) << value;
      } catch (const std::exception& error) {
        ADD_FAILURE() << key.key << " = " << value << " escaped as " << error.what();
      }
    }
  }
  // The bounds that keep float32 optimizer arithmetic finite.
  EXPECT_THAT(load_error("[train]\nlr = 1e16\n"), HasSubstr("train.lr = '1e16'"));
  EXPECT_THAT(load_error("[model]\nmlp_hidden = 65536\n"), HasSubstr("model.mlp_hidden"));
}

// Found by fuzz/recipe_fuzzer: Boost's error message builder looped forever on these.
TEST(Recipe, PlaceholderTextInABadLineIsReportedNotLoopedOn) {
  EXPECT_THAT(load_error("wc%invalid_line%%\n"),
              AllOf(HasSubstr("invalid line"), HasSubstr("%invalid_line%")));
  EXPECT_THAT(load_error("[%canonical_option%]\n%option% = 1\n"), HasSubstr("bad.ini"));
}

TEST(Recipe, SecureNoiseWithASeedIsRefused) {
  EXPECT_THAT(load_error("[train]\nseed = 3\n[privacy]\nenabled = true\nnoise_multiplier = "
                         "1\nsecure_noise = true\n"),
              AllOf(HasSubstr("privacy.secure_noise = true"), HasSubstr("train.seed")));
  Recipe recipe;
  EXPECT_TRUE(secure_noise(recipe));  // auto, no seed
  recipe.train.seed(3);
  EXPECT_FALSE(secure_noise(recipe));  // auto, seeded: reproducible
}

TEST(Recipe, ReplaceOneNeedsThePldAccountant) {
  EXPECT_THAT(
      load_error("[privacy]\nenabled = true\nnoise_multiplier = 1\naccountant = rdp\n"
                 "adjacency = replace_one\n"),
      AllOf(HasSubstr("bad.ini"), HasSubstr("privacy.adjacency = replace_one"),
            HasSubstr("privacy.accountant = pld"), HasSubstr("now privacy.accountant = rdp")));
  EXPECT_THAT(load_error("[privacy]\nadjacency = swap\n"),
              AllOf(HasSubstr("privacy.adjacency = 'swap'"), HasSubstr("add_remove, replace_one")));
  Recipe recipe;
  recipe.data.format(data::Format::kCsv);
  EXPECT_EQ(dataset_size_source(recipe), DatasetSizeSource::kDpCount);
  recipe.privacy.adjacency(privacy::Adjacency::kReplaceOne);
  EXPECT_EQ(dataset_size_source(recipe), DatasetSizeSource::kReplaceOne);
  recipe.privacy.public_dataset_size(500);  // a declared size still wins
  EXPECT_EQ(dataset_size_source(recipe), DatasetSizeSource::kDeclared);
}

TEST(Recipe, EnumListsAllowedValues) {
  EXPECT_THAT(load_error("[model]\narch = resnet50\n"),
              AllOf(HasSubstr("model.arch = 'resnet50'"), HasSubstr("mlp, cnn_tanh, wrn16_4")));
}

TEST(Recipe, DuplicateKeyIsAnError) {
  EXPECT_THAT(load_error("[train]\nlr = 0.1\nlr = 0.2\n"), HasSubstr("more than once"));
}

TEST(Recipe, BadOverrideNamesTheOverride) {
  EXPECT_THAT(load_error("", {"train.lr=-1"}), HasSubstr("--set train.lr=-1"));
  EXPECT_THAT(load_error("", {"train.lr"}), HasSubstr("expected section.key=value"));
  EXPECT_THAT(load_error("", {"train.nope=1"}), HasSubstr("unknown key 'train.nope'"));
}

TEST(Recipe, MissingFileIsAClearError) {
  try {
    load_recipe("/nonexistent/recipe.ini");
    FAIL() << "expected an error";
  } catch (const InputError& error) {
    EXPECT_THAT(error.what(),
                AllOf(HasSubstr("/nonexistent/recipe.ini"), HasSubstr("no such file")));
  }
}

TEST(Recipe, EmptySeedMeansSeedFromTheOs) {
  TempDir dir;
  write_text(dir / "r.ini", "[train]\nseed =\n");
  EXPECT_FALSE(load_recipe((dir / "r.ini").string()).train.seed().has_value());
}

TEST(Recipe, EveryShippedRecipeParses) {
  int parsed = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(DPFORGE_SOURCE_DIR) / "recipes")) {
    if (entry.path().extension() != ".ini") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_recipe(entry.path().string()));
    ++parsed;
  }
  EXPECT_GE(parsed, 2);
}

TEST(Recipe, EveryKeyIsDocumented) {
  const std::string docs =
      testing::read_text(std::filesystem::path(DPFORGE_SOURCE_DIR) / "docs" / "recipes.md");
  for (const auto& key : recipe_keys()) {
    EXPECT_THAT(docs, HasSubstr("`" + key.key + "`")) << "docs/recipes.md lacks " << key.key;
  }
}

// data.format = auto (the default) reads the format off data.train's name, and says when it cannot.
TEST(Recipe, AutoFormatFollowsTheTrainingFileName) {
  DataOptions data;
  EXPECT_EQ(resolved_format(data), data::Format::kFashionMnist);
  for (const auto& [file, format] : std::vector<std::pair<std::string, data::Format>>{
           {"a/patients.CSV", data::Format::kCsv},
           {"x.npz", data::Format::kNpz},
           {"x.npy,y.npy", data::Format::kNpy},
           {"train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz", data::Format::kIdx}}) {
    EXPECT_EQ(resolved_format(data.train(file)), format) << file;
  }
  EXPECT_EQ(resolved_format(data.train("x.txt").format(data::Format::kCsv)), data::Format::kCsv);
  EXPECT_THAT(load_error("[data]\ntrain = table.txt\ntest_fraction = 0.2\n"),
              AllOf(HasSubstr("data.format = auto cannot tell"), HasSubstr("table.txt"),
                    HasSubstr("csv, npz, npy or idx")));
}

TEST(Recipe, EmbeddedCategoriesNeedTheMlp) {
  EXPECT_THAT(
      load_error("[data]\ncategorical_encoding = embedding\n[model]\narch = cnn_tanh\n"),
      AllOf(HasSubstr("data.categorical_encoding = embedding"), HasSubstr("use model.arch = mlp")));
}

TEST(Recipe, ResolvedValuesRoundTripThroughOverrides) {
  Recipe original;
  original.train.lr(0.25).epochs(7).seed(5);
  original.model.arch(nn::Arch::kMlp);
  std::vector<std::string> overrides;
  for (const auto& [key, value] : resolved_values(original)) overrides.push_back(key + "=" + value);
  Recipe copy;
  apply_overrides(copy, overrides);
  EXPECT_EQ(resolved_values(copy), resolved_values(original));
}

// docs/recipes.md: '#' starts a comment anywhere on a line; booleans are spelled true or false.
TEST(Recipe, InlineCommentsAreStrippedAndBooleansAreTrueOrFalse) {
  TempDir dir;
  write_text(dir / "r.ini",
             "[train]\nlr = 0.05   # tuned on validation\nkeep_checkpoints = true\n");
  const auto recipe = load_recipe((dir / "r.ini").string());
  EXPECT_DOUBLE_EQ(recipe.train.lr(), 0.05);
  EXPECT_TRUE(recipe.train.keep_checkpoints());
  for (const std::string spelling : {"yes", "1", "on", "True"}) {
    EXPECT_THAT(load_error("[privacy]\nenabled = " + spelling + "\n"),
                AllOf(HasSubstr("privacy.enabled = '" + spelling + "'"),
                      HasSubstr("expected true or false")));
  }
  // A value cannot hold what the INI form of a run's recipe would read as a comment.
  EXPECT_THAT(load_error("[run]\nname = a\n", {"run.name=exp#1"}),
              AllOf(HasSubstr("run.name = 'exp#1'"), HasSubstr("cannot hold '#'")));
}

// A run folder's recipe.ini (to_ini) reads back to the very values it was written from.
TEST(Recipe, ToIniReadsBackToTheSameValues) {
  Recipe original;
  original.run.name("x y");
  original.train.lr(0.0123456789).epochs(7).seed(18446744073709551615ULL);
  original.privacy.enabled(true).target_epsilon(2.5).delta(3e-7);
  original.model.arch(nn::Arch::kMlp).dropout(0.1);
  TempDir dir;
  write_text(dir / "recipe.ini", to_ini(original));
  EXPECT_EQ(resolved_values(load_recipe((dir / "recipe.ini").string())), resolved_values(original));
  Recipe unseeded;  // an empty seed (drawn from the OS) stays empty
  write_text(dir / "unseeded.ini", to_ini(unseeded));
  EXPECT_FALSE(load_recipe((dir / "unseeded.ini").string()).train.seed().has_value());
}

}  // namespace
}  // namespace dpforge::config
