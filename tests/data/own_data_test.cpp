// SPDX-License-Identifier: Apache-2.0
// A user's own data: the CSV and NPY/NPZ readers against hand-made and numpy-written files, the
// task losses against their formulas, the preprocessing rules, and the shipped recipes on the real
// tables scikit-learn bundles (exported at test time by scripts/export_sklearn_data.py).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <sstream>

#include "dpforge/config/recipe.h"
#include "dpforge/core/error.h"
#include "dpforge/data/csv.h"
#include "dpforge/data/dp_bounds.h"
#include "dpforge/data/dp_vocabulary.h"
#include "dpforge/data/fashion_mnist.h"
#include "dpforge/data/npy.h"
#include "dpforge/data/sources.h"
#include "dpforge/data/table_encoding.h"
#include "dpforge/data/task.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/privacy/log_math.h"
#include "dpforge/run/run.h"
#include "dpforge/train/metrics.h"
#include "dpforge/train/task_metrics.h"
#include "test_util.h"

namespace dpforge::data::own_data_test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

using testing::error_of;

std::vector<std::vector<std::string>> read_all(const std::string& text) {
  std::istringstream stream(text);
  CsvReader csv(stream, "t.csv");
  std::vector<std::vector<std::string>> rows{csv.header()};
  std::vector<std::string> row;
  while (csv.next(row)) rows.push_back(row);
  return rows;
}

TEST(Csv, ReadsRfc4180QuotingAndBothLineEnds) {
  const auto rows = read_all("a,\"b, with comma\",c\r\n1,\"say \"\"hi\"\"\",\"two\nlines\"\n3,,x");
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b, with comma", "c"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "", "x"}));
}

TEST(Csv, CountsLinesAcrossQuotedLineBreaksAndSkipsAByteOrderMark) {
  std::istringstream stream(
      "\xEF\xBB\xBF"
      "id,note\r\n1,\"two\nlines\"\r\n2,x\n");
  CsvReader csv(stream, "t.csv");
  EXPECT_EQ(csv.header().front(), "id");
  std::vector<std::string> row;
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(csv.line(), 2);
  ASSERT_TRUE(csv.next(row));
  EXPECT_EQ(csv.line(), 4);  // the quoted line break took line 3
  EXPECT_FALSE(csv.next(row));
  EXPECT_THAT(error_of([] { read_all("a,b\n1,2,3,4,5,6\n"); }),
              AllOf(HasSubstr("line 2"), HasSubstr("more fields than the header's 2 columns")));
}

TEST(Csv, MalformedInputNamesTheFileAndLine) {
  EXPECT_THAT(error_of([] { read_all(""); }), AllOf(HasSubstr("t.csv"), HasSubstr("empty")));
  EXPECT_THAT(error_of([] { read_all("a,b\n1,2\n3\n"); }),
              AllOf(HasSubstr("t.csv: line 3"), HasSubstr("1 fields"), HasSubstr("2 columns")));
  EXPECT_THAT(error_of([] { read_all("a,b\n1,x\"y\n"); }),
              AllOf(HasSubstr("line 2"), HasSubstr("quote inside an unquoted field")));
  EXPECT_THAT(error_of([] { read_all("a,b\n1,\"open\n2,3\n"); }),
              AllOf(HasSubstr("opened on line 2"), HasSubstr("never closed")));
  EXPECT_THAT(error_of([] { read_all("a,a\n1,2\n"); }), HasSubstr("'a' appears twice"));
  EXPECT_THAT(error_of([] { read_all("a,b\n\"1\"x,2\n"); }), HasSubstr("after a closing quote"));
  // Another separator: named, instead of a column the recipe then cannot find.
  EXPECT_THAT(error_of([] { read_all("age;income;y\n3;4,5;1\n"); }),
              AllOf(HasSubstr("t.csv: line 1"), HasSubstr("2 semicolons"),
                    HasSubstr("semicolon-separated"), HasSubstr("comma-separated")));
  EXPECT_THAT(error_of([] { read_all("age\ty\n3\t1\n"); }), HasSubstr("tab-separated"));
}

// A decimal comma (quoted, in a comma-separated file) is a number written another way: the hint
// says so instead of suggesting the column holds categories.
TEST(Sources, ADecimalCommaIsNamedAsOne) {
  TempDir dir;
  const auto csv = (dir / "t.csv").string();
  SourceOptions options;
  options.label = "y";
  options.task = TaskChoice::kBinary;
  options.scaling = Scaling::kNone;
  testing::write_text(csv, "x,y\n1.5,0\n\"2,5\",1\n");
  EXPECT_THAT(error_of([&] { load_source(options, {csv}, {}); }),
              AllOf(HasSubstr("line 3, column 'x': '2,5' is not a number"),
                    HasSubstr("decimal comma"), HasSubstr("write 2.5")));
  testing::write_text(csv, "x,y\n1.5,0\nsmall,1\n");
  EXPECT_THAT(error_of([&] { load_source(options, {csv}, {}); }),
              AllOf(HasSubstr("'small' is not a number"), HasSubstr("data.categorical")));
}

// An .npy file as numpy writes it: magic, version 1.0, header padded to 64 bytes.
std::string npy_bytes(const std::string& descr, const std::string& shape, const std::string& data,
                      const std::string& fortran = "False") {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY\x01";
  bytes += '\0';
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + data;
}

torch::Tensor parse(const std::string& bytes) {
  return parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.npy");
}

TEST(Npy, ReadsDtypesAndShapes) {
  const float values[] = {1.5F, -2.0F, 3.25F, 0.0F, 7.0F, 8.0F};
  const auto x =
      parse(npy_bytes("<f4", "(2, 3)", std::string(reinterpret_cast<const char*>(values), 24)));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(x[0][2].item<float>(), 3.25F);
  const auto y = parse(npy_bytes("|u1", "(3,)", std::string("\x01\x02\xff", 3)));
  EXPECT_EQ(y.scalar_type(), torch::kUInt8);
  EXPECT_EQ(y[2].item<int64_t>(), 255);
}

TEST(Npy, RefusesWhatItMustNotReadNamingTheHeaderField) {
  EXPECT_THAT(error_of([] { parse(npy_bytes("|O", "(1,)", std::string(8, '\0'))); }),
              AllOf(HasSubstr("'descr'"), HasSubstr("never unpickles")));
  EXPECT_THAT(error_of([] { parse(npy_bytes("<f4", "(1,)", std::string(4, '\0'), "True")); }),
              AllOf(HasSubstr("'fortran_order'"), HasSubstr("C-order")));
  EXPECT_THAT(error_of([] { parse(npy_bytes(">f4", "(1,)", std::string(4, '\0'))); }),
              AllOf(HasSubstr("'descr' = '>f4'"), HasSubstr("little-endian")));
  EXPECT_THAT(error_of([] { parse(npy_bytes("<f4", "(3,)", std::string(8, '\0'))); }),
              AllOf(HasSubstr("'shape'"), HasSubstr("truncated")));
  EXPECT_THAT(error_of([] { parse("PK\x03\x04 not numpy"); }), HasSubstr("not an NPY file"));
  EXPECT_THAT(error_of([] { parse(npy_bytes("|b1", "(2,)", std::string("\x01\x02", 2))); }),
              HasSubstr("bytes other than 0 and 1"));
  EXPECT_THAT(error_of([] { parse(npy_bytes("<f4", "(0, 4611686018427387904, 8)", "")); }),
              HasSubstr("implausibly large"));
  EXPECT_EQ(parse(npy_bytes("|b1", "(2,)", std::string("\x01\x00", 2))).scalar_type(),
            torch::kBool);
}

// Files written by numpy itself (np.save, np.savez, np.savez_compressed) read back exactly.
TEST(Npy, ReadsWhatNumpyWrites) {
  TempDir dir;
  const auto script = fmt::format(
      "import numpy as np; x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7;"
      "y = np.array([3, -1], dtype=np.int64); np.save('{0}/x.npy', x);"
      "np.savez('{0}/s.npz', x=x, y=y); np.savez_compressed('{0}/c.npz', x=x, y=y)",
      dir.path().string());
  ASSERT_EQ(testing::run_command(std::string(DPFORGE_PYTHON) + " -c \"" + script + "\"").exit_code,
            0);
  const auto expected = torch::arange(24, torch::kFloat64).reshape({2, 3, 4}) / 7;
  EXPECT_TRUE(torch::equal(read_npy(dir / "x.npy"), expected));
  for (const char* name : {"s.npz", "c.npz"}) {
    const auto arrays = read_npz(dir / name);
    ASSERT_EQ(arrays.count("x"), 1U) << name;
    EXPECT_TRUE(torch::equal(arrays.at("x"), expected)) << name;
    EXPECT_EQ(arrays.at("y")[1].item<int64_t>(), -1) << name;
  }
}

// Archives whose headers lie: a flipped data byte (CRC), a deflated member declared longer or
// shorter than it inflates to.
TEST(Npy, HostileArchivesAreRefusedNotTrusted) {
  TempDir dir;
  const auto script = fmt::format(
      "import numpy as np, struct\n"
      "x = np.arange(64, dtype=np.float64)\n"
      "np.savez('{0}/s.npz', x=x, y=x); np.savez_compressed('{0}/c.npz', x=x, y=x)\n"
      "b = bytearray(open('{0}/s.npz', 'rb').read()); b[200] ^= 1\n"
      "open('{0}/crc.npz', 'wb').write(b)\n"
      "for name, delta in (('long', 1000), ('short', -8)):\n"
      "    b = bytearray(open('{0}/c.npz', 'rb').read()); at = b.find(b'PK\\x01\\x02') + 24\n"
      "    size = struct.unpack_from('<I', b, at)[0]; struct.pack_into('<I', b, at, size + delta)\n"
      "    open('{0}/' + name + '.npz', 'wb').write(b)\n",
      dir.path().string());
  testing::write_text(dir / "make.py", script);
  const auto made =
      testing::run_command(std::string(DPFORGE_PYTHON) + " " + (dir / "make.py").string());
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_THAT(error_of([&] { read_npz(dir / "crc.npz"); }), HasSubstr("CRC-32"));
  EXPECT_THAT(error_of([&] { read_npz(dir / "long.npz"); }),
              HasSubstr("does not inflate to its declared size"));
  EXPECT_THAT(error_of([&] { read_npz(dir / "short.npz"); }),
              HasSubstr("inflates to more than its declared size"));
  EXPECT_EQ(read_npz(dir / "c.npz").at("x").numel(), 64);
  // Found by fuzz/npz_fuzzer.cpp: a member without a name (or a name twice) was read, the later
  // replacing the earlier unseen.
  EXPECT_THAT(
      error_of([] {
        read_npz(std::string(DPFORGE_SOURCE_DIR) + "/fuzz/corpus/npz/regression-empty-name.npz");
      }),
      HasSubstr("a member without a name"));
  const auto duplicate = fmt::format(
      "import zipfile, io, numpy as np\n"
      "z = zipfile.ZipFile('{0}/twice.npz', 'w')\n"
      "for value in (1.0, 2.0):\n"
      "    b = io.BytesIO(); np.save(b, np.array([value])); z.writestr('x.npy', b.getvalue())\n"
      "z.close()\n",
      dir.path().string());
  testing::write_text(dir / "twice.py", duplicate);
  ASSERT_EQ(testing::run_command(std::string(DPFORGE_PYTHON) + " -W ignore " +
                                 (dir / "twice.py").string())
                .exit_code,
            0);
  EXPECT_THAT(error_of([&] { read_npz(dir / "twice.npz"); }),
              HasSubstr("member 'x' appears twice"));
}

TEST(Task, BinaryAurocIsTheMannWhitneyStatistic) {
  const auto labels = torch::tensor({0, 0, 1, 1}, torch::kLong);
  // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75.
  EXPECT_DOUBLE_EQ(*train::binary_auroc(torch::tensor({0.1, 0.4, 0.35, 0.8}), labels), 0.75);
  // An anti-predictive model scores below one half (a convex hull would hide that).
  EXPECT_DOUBLE_EQ(*train::binary_auroc(torch::tensor({0.9, 0.6, 0.65, 0.2}), labels), 0.25);
  EXPECT_DOUBLE_EQ(*train::binary_auroc(torch::tensor({1.0, 1.0, 1.0, 1.0}), labels), 0.5);
  EXPECT_FALSE(train::binary_auroc(torch::tensor({1.0, 2.0}), torch::tensor({1, 1})).has_value());
}

// The task metrics against scikit-learn's (values from sklearn 1.7.2, scripts/requirements.txt):
// average_precision_score, f1_score(average='macro'), r2_score, on small hand-made cases with a
// tie, a class predicted but never present, and a class present but never predicted.
TEST(Task, MetricsThatFitTheTaskMatchScikitLearn) {
  constexpr double kTolerance = 1e-12;
  const auto labels = torch::tensor({0, 1, 1, 0, 1, 0, 0, 1}, torch::kLong);
  const auto scores = torch::tensor({0.1, 0.4, 0.35, 0.8, 0.8, 0.2, 0.5, 0.9});
  EXPECT_NEAR(*train::average_precision(scores, labels), 0.7333333333333333, kTolerance);
  EXPECT_NEAR(*train::binary_auroc(scores, labels), 0.71875, kTolerance);
  EXPECT_FALSE(train::average_precision(scores, torch::zeros({8}, torch::kLong)).has_value());
  // A perfect ranking has AP 1 whatever the positives' share; the majority class is 0 here.
  EXPECT_NEAR(*train::average_precision(labels.to(torch::kFloat64), labels), 1.0, kTolerance);
  EXPECT_NEAR(train::majority_share(torch::tensor({0, 0, 0, 1}), 2), 0.75, kTolerance);

  const auto truth = torch::tensor({0, 1, 2, 2, 1, 0, 3, 3}, torch::kLong);
  const auto predicted = torch::tensor({0, 2, 2, 2, 1, 1, 3, 0}, torch::kLong);
  EXPECT_NEAR(train::macro_f1(predicted, truth, 4), 0.6166666666666667, kTolerance);
  // Class 2 predicted once, never present: it counts (F1 0); class 3 of 5 ids never occurs.
  EXPECT_NEAR(train::macro_f1(torch::tensor({0, 2, 1, 1}), torch::tensor({0, 0, 1, 1}), 5),
              0.5555555555555555, kTolerance);

  const auto targets = torch::tensor({3.0, -1.0, 2.5, 7.0});
  const auto fitted = torch::tensor({2.5, 0.0, 2.0, 8.0});
  const double squared_error = (targets - fitted).square().sum().item<double>();
  EXPECT_NEAR(*train::r_squared(squared_error, targets), 0.9223300970873787, kTolerance);
  EXPECT_FALSE(train::r_squared(1.0, torch::ones({3})).has_value());
}

TEST(Task, LossesMatchTheirFormulas) {
  const auto z = torch::tensor({{2.0}, {-1.0}, {0.5}}, torch::kFloat64);
  const auto y = torch::tensor({1, 0, 0}, torch::kLong);
  const auto bce = per_example_loss(Task::kBinary, z, y, {});
  EXPECT_NEAR(bce[0].item<double>(), std::log1p(std::exp(-2.0)), 1e-12);
  EXPECT_NEAR(bce[1].item<double>(), std::log1p(std::exp(-1.0)), 1e-12);
  EXPECT_NEAR(bce[2].item<double>(), std::log1p(std::exp(0.5)), 1e-12);
  EXPECT_EQ(count_correct(Task::kBinary, z, y), 2);
  const auto t = torch::tensor({0.0, 0.0, 0.0}, torch::kFloat64);
  LossOptions huber;
  huber.regression = RegressionLoss::kHuber;
  huber.huber_delta = 1.0;
  const auto h = per_example_loss(Task::kRegression, z, t, huber);
  EXPECT_NEAR(h[0].item<double>(), 1.0 * (2.0 - 0.5), 1e-12);  // linear part
  EXPECT_NEAR(h[2].item<double>(), 0.5 * 0.25, 1e-12);         // quadratic part
  EXPECT_NEAR(per_example_loss(Task::kRegression, z, t, {})[1].item<double>(), 1.0, 1e-12);
  const auto p = class_log_probabilities(Task::kBinary, z).exp();
  EXPECT_NEAR(p[0][1].item<double>(), 1 / (1 + std::exp(-2.0)), 1e-12);
}

// A small patient table with a categorical column and a missing value.
struct Table {
  TempDir dir;
  std::string csv = (dir / "t.csv").string();
  std::string stats = (dir / "s.json").string();
  PublicStats public_stats;
  SourceOptions options;
  Table() {
    testing::write_text(csv, "age,sex,outcome\n30,F,0\n60,M,1\n45,F,1\n,M,0\n");
    testing::write_text(stats, R"({"about": "test", "columns": {"age": {"min": 0, "max": 100},
                                   "sex": {"categories": ["F", "M"]}}})");
    public_stats = read_public_stats(stats);
    options.label = "outcome";
    options.categorical = {"sex"};
    options.stats = &public_stats;
    options.scaling = Scaling::kMinMax;
  }
};

TEST(Sources, CsvIsScaledAndOneHotEncodedWithPublicStatistics) {
  Table table;
  table.options.missing = Missing::kFill;
  table.options.fill_value = 50;
  const auto loaded = load_source(table.options, {table.csv}, {});
  EXPECT_EQ(loaded.feature_names,
            (std::vector<std::string>{"age", "sex=F", "sex=M", "sex=(missing)"}));
  const auto& x = loaded.train.inputs;
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_FLOAT_EQ(x[1][0].item<float>(), 0.6F);
  EXPECT_FLOAT_EQ(x[3][0].item<float>(), 0.5F);  // the filled value, scaled
  EXPECT_FLOAT_EQ(x[1][2].item<float>(), 1.0F);
  EXPECT_EQ(loaded.train.task, Task::kBinary);
  EXPECT_THAT(loaded.notes.front(), HasSubstr("inferred binary"));
}

// data.categorical_encoding = embedding: one code feature per column, 1-based in the public
// vocabulary (0 is left for values outside a vocabulary), the filled category last.
// Found by fuzz/stats_fuzzer.cpp: a statistic no scaling could use passed the reader until a run
// used it. Now the file is refused when read, naming the entry (regression seeds in
// fuzz/corpus/stats/regression-*).
TEST(Sources, StatisticsFilesAreRefusedWhenReadNotWhenUsed) {
  EXPECT_THAT([] { parse_public_stats(R"({"inputs": {"std": 0}})", "s.json"); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("s.json: inputs.std: must be > 0")));
  EXPECT_THAT([] { parse_public_stats(R"({"columns": {"age": {"min": 5, "max": 1}}})", "s.json"); },
              ::testing::ThrowsMessage<InputError>(
                  HasSubstr("s.json: columns.age.max: must be > its min (1 <= 5)")));
  EXPECT_THAT([] { parse_public_stats(R"({"target": {"mean": "x"}})", "s.json"); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("target.mean: expected a number")));
  const auto fine = parse_public_stats(R"({"target": {"mean": 1, "std": 2}})", "s.json");
  EXPECT_EQ(*fine.target->std, 2);
}

TEST(Sources, EmbeddedCategoriesAreOneCodeFeatureEach) {
  Table table;
  table.options.missing = Missing::kFill;
  table.options.categorical_encoding = CategoricalEncoding::kEmbedding;
  testing::write_text(table.csv, "age,sex,outcome\n30,F,0\n60,M,1\n45,,1\n20,M,0\n");
  const auto loaded = load_source(table.options, {table.csv}, {});
  EXPECT_EQ(loaded.feature_names, (std::vector<std::string>{"age", "sex"}));
  EXPECT_TRUE(
      torch::equal(loaded.train.inputs.select(1, 1), torch::tensor({1.0F, 2.0F, 3.0F, 2.0F})));
  EXPECT_FLOAT_EQ(loaded.train.inputs[1][0].item<float>(), 0.6F);  // numbers are scaled as before
  ASSERT_EQ(loaded.train.category_codes.size(), 1U);
  EXPECT_EQ(loaded.train.category_codes[0].feature, 1);
  EXPECT_EQ(loaded.train.category_codes[0].categories, 3);  // F, M, (missing)
  EXPECT_EQ(loaded.train.category_codes[0].name, "sex");
}

// The encoding a run records (model.json) reads its own training file back into exactly the
// features it trained on, for every kind of column, survives its JSON round trip, and scores rows
// without a label column; a feature column the header lacks is named.
TEST(TableEncoding, ReadsTheTrainingFileBackIntoItsFeatures) {
  for (const auto encoding : {CategoricalEncoding::kOneHot, CategoricalEncoding::kEmbedding}) {
    Table table;
    table.options.missing = Missing::kFill;
    table.options.fill_value = 50;
    table.options.categorical_encoding = encoding;
    const auto loaded = load_source(table.options, {table.csv}, {});
    ASSERT_TRUE(loaded.encoding);
    EXPECT_EQ(loaded.encoding->feature_names(), loaded.feature_names);
    const auto round_trip = table_encoding_from_json(to_json(*loaded.encoding), "model.json");
    EXPECT_EQ(to_json(round_trip), to_json(*loaded.encoding));
    std::istringstream text(testing::read_text(table.csv));
    CsvReader csv(text, "t.csv");
    const auto rows = encode_table(csv, round_trip);
    EXPECT_TRUE(torch::equal(rows.inputs, loaded.train.inputs));
    EXPECT_EQ(rows.lines, (std::vector<int64_t>{2, 3, 4, 5}));
    std::istringstream unlabelled("sex,age\nM,70\nF,\n");
    CsvReader new_rows(unlabelled, "new.csv");
    const auto scored = encode_table(new_rows, round_trip);
    EXPECT_EQ(scored.inputs.size(0), 2);
    EXPECT_FLOAT_EQ(scored.inputs[1][0].item<float>(), 0.5F);  // filled, then scaled
  }
  Table table;
  table.options.missing = Missing::kDrop;
  const auto loaded = load_source(table.options, {table.csv}, {});
  std::istringstream text("age,outcome\n30,1\n");
  CsvReader csv(text, "new.csv");
  EXPECT_THAT([&] { encode_table(csv, *loaded.encoding); },
              ::testing::ThrowsMessage<InputError>(
                  HasSubstr("new.csv: the model reads column 'sex', which the header does not")));
  std::istringstream dropped("age,sex\n,F\n20,M\n");
  CsvReader with_gap(dropped, "new.csv");
  const auto rows = encode_table(with_gap, *loaded.encoding);
  EXPECT_EQ(rows.lines, (std::vector<int64_t>{3}));
  EXPECT_EQ(rows.dropped_lines, (std::vector<int64_t>{2}));
}

TEST(Sources, EveryMissingRuleAndStatisticIsExplicit) {
  Table table;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("line 5, column 'age'"), HasSubstr("data.missing = drop")));
  table.options.missing = Missing::kDrop;
  EXPECT_EQ(load_source(table.options, {table.csv}, {}).train.size(), 3);
  table.public_stats.columns.erase("sex");
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("categorical column 'sex' has no public vocabulary")));
  table.options.categorical.clear();
  table.options.scaling = Scaling::kNone;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("line 2, column 'sex'"), HasSubstr("not a number")));
  table.options.features = {"age"};
  table.options.scaling = Scaling::kMinMax;
  table.public_stats.columns.erase("age");
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("min and max of columns.age"), HasSubstr("would be a release")));
  // Every column without its statistics at once, with the entries to add.
  Table both;
  both.public_stats.columns.clear();
  both.options.scaling = Scaling::kMinMax;
  EXPECT_THAT(
      error_of([&] { load_source(both.options, {both.csv}, {}); }),
      AllOf(
          HasSubstr("2 columns lack public statistics"), HasSubstr("min and max of columns.age"),
          HasSubstr("categorical column 'sex' has no public vocabulary"),
          HasSubstr("\"age\": {\"min\": ..., \"max\": ...},\n  \"sex\": {\"categories\": [...]}")));
  // A column of words without statistics is named as text, not asked for a range.
  Table words;
  testing::write_text(words.csv, "age,sex,city,outcome\n30,F,Lyon,0\n60,M,,1\n45,F,Nice,1\n");
  EXPECT_THAT(error_of([&] { load_source(words.options, {words.csv}, {}); }),
              AllOf(HasSubstr("1 column lacks public statistics"),
                    HasSubstr("column 'city' is text ('Lyon' on line 2): declare it categorical "
                              "(data.categorical, its categories in data.stats) or leave it out"),
                    Not(HasSubstr("columns.city"))));
}

// `dpforge stats-template` writes a skeleton the reader refuses until every null is filled in with
// a public value: it guesses types (numbers, text and its distinct count) and holds no statistic.
TEST(Sources, StatsTemplateIsASkeletonToFillIn) {
  TempDir dir;
  testing::write_text(dir / "t.csv",
                      "age,city,id,outcome\n30,Lyon,a1,0\n,Nice,a2,1\n45,Lyon,a3,1\n");
  const auto out = dir / "stats.json";
  const std::string command = testing::kCli + " stats-template " + (dir / "t.csv").string() +
                              " --label outcome --out " + out.string();
  const auto written = testing::run_command(command);
  ASSERT_EQ(written.exit_code, 0) << written.output;
  const auto skeleton = testing::read_json(out);
  EXPECT_EQ(skeleton["columns"]["age"], nlohmann::json({{"min", nullptr}, {"max", nullptr}}));
  EXPECT_EQ(skeleton["columns"]["city"], nlohmann::json({{"categories", nullptr}}));
  EXPECT_FALSE(skeleton["columns"].contains("outcome"));
  const std::string about = skeleton["about"].dump();
  EXPECT_THAT(
      about, AllOf(HasSubstr("age: numbers, 1 missing"), HasSubstr("city: text, 2 distinct values"),
                   HasSubstr("outside any private run")));
  EXPECT_THAT(error_of([&] { read_public_stats(out); }),
              HasSubstr("columns.age.max: expected a number"));
  const auto again = testing::run_command(command);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, HasSubstr("does not overwrite"));
}

TEST(Sources, LabelsAndTestFilesAreChecked) {
  Table table;
  table.options.missing = Missing::kDrop;
  table.options.task = TaskChoice::kMulticlass;
  table.options.classes = 1;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              HasSubstr("at least 2 classes"));
  const auto other = (table.dir / "other.csv").string();
  testing::write_text(other, "age,gender,outcome\n30,F,0\n");
  table.options.classes = 0;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {other}); }),
              HasSubstr("differ from the training file"));
  testing::write_text(other, "age,sex,outcome\n30,F,7\n");
  table.options.classes = 2;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {other}); }),
              AllOf(HasSubstr("label 7"), HasSubstr("outside the 2 classes")));
  table.options.label = "result";
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("data.label names column 'result'"), HasSubstr("age, sex, outcome")));
}

// Under DP nothing that shapes the released model may be read off the private labels.
TEST(Sources, PrivateTrainingRefusesInferringTheTaskOrTheClassCount) {
  Table table;
  table.options.missing = Missing::kDrop;
  table.options.private_training = true;
  // Without declared classes the task follows the schema: a label not listed in data.categorical
  // is a number, so a private run's auto is regression (and says why), whatever the labels hold.
  const auto numeric = load_source(table.options, {table.csv}, {});
  EXPECT_EQ(numeric.train.task, Task::kRegression);
  EXPECT_THAT(numeric.notes,
              ::testing::Contains(
                  HasSubstr("regression, since data.label 'outcome' is not in data.categorical")));
  table.options.categorical = {"sex", "outcome"};
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("train.task = auto"), HasSubstr("released weights"),
                    HasSubstr("data.label 'outcome' is in data.categorical")));
  table.options.categorical = {"sex"};
  table.options.task = TaskChoice::kMulticlass;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              AllOf(HasSubstr("data.classes = 0"), HasSubstr("output layer")));
  table.options.classes = 3;
  EXPECT_EQ(load_source(table.options, {table.csv}, {}).train.num_classes, 3);
  table.options.task = TaskChoice::kBinary;
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              HasSubstr("binary has 2 classes"));
  // Declared classes are public: auto may follow them, private or not, and says so.
  table.options.task = TaskChoice::kAuto;
  const auto declared = load_source(table.options, {table.csv}, {});
  EXPECT_EQ(declared.train.task, Task::kMulticlass);
  EXPECT_THAT(declared.notes.front(), HasSubstr("3 classes in data.classes"));
  table.options.classes = 0;
  table.options.label_values = {"0", "1"};
  EXPECT_EQ(load_source(table.options, {table.csv}, {}).train.task, Task::kBinary);
}

TEST(Sources, LabelsMustBeClassesOfTheTask) {
  TempDir dir;
  const auto csv = (dir / "t.csv").string();
  SourceOptions options;
  options.label = "y";
  options.task = TaskChoice::kMulticlass;
  options.classes = 3;
  // A CSV row is named by its line in the file (the header is line 1; blank lines count).
  testing::write_text(csv, "x,y\n1,0\n\n2,-1\n");
  EXPECT_THAT(error_of([&] { load_source(options, {csv}, {}); }),
              AllOf(HasSubstr("t.csv: line 4 has label -1"), HasSubstr("outside the 3 classes")));
  testing::write_text(csv, "x,y\n1,0\n2,1.5\n");
  EXPECT_THAT(error_of([&] { load_source(options, {csv}, {}); }), HasSubstr("label 1.5"));
  options.task = TaskChoice::kAuto;
  options.classes = 0;
  testing::write_text(csv, "x,y\n1,0\n2,1e9\n");
  EXPECT_THAT(error_of([&] { load_source(options, {csv}, {}); }), HasSubstr("not a class label"));
  options.task = TaskChoice::kRegression;
  EXPECT_EQ(load_source(options, {csv}, {}).train.labels[1].item<float>(), 1e9F);
}

// The seeded test and validation fractions partition the rows: none is in two splits.
TEST(Sources, FractionSplitsAreDisjointAndCoverEveryRow) {
  TempDir dir;
  std::string text = "id,y\n";
  for (int i = 0; i < 200; ++i) text += fmt::format("{},{}\n", i, i % 2);
  testing::write_text(dir / "t.csv", text);
  auto recipe = config::Recipe();
  config::apply_overrides(
      recipe, {"data.format=csv", "data.train=" + (dir / "t.csv").string(), "data.label=y",
               "data.test_fraction=0.25", "data.validation_fraction=0.2", "data.split_seed=9",
               "train.task=binary"});
  const auto data = run::load_run_data(recipe);
  EXPECT_EQ(data.test.size(), 50);
  EXPECT_EQ(data.validation.size(), 30);
  EXPECT_EQ(data.train.size(), 120);
  const auto ids = torch::cat({data.train.inputs, data.test.inputs, data.validation.inputs})
                       .squeeze(1)
                       .to(torch::kLong);
  EXPECT_TRUE(torch::equal(std::get<0>(ids.sort()), torch::arange(200, torch::kLong)));
}

// The DP statistics release: its noise has the claimed std (σ_s·Δ on every released sum, measured
// over many keys), and clipping to the public range bounds what one record can move.
TEST(DpStatistics, NoiseHasTheClaimedStdAndAnOutlierMovesTheMeanAtMostItsShare) {
  const int64_t n = 1000;
  const auto x = torch::stack({torch::linspace(2, 8, n), torch::full({n}, 5.0)}, 1);
  const std::vector<DeferredColumn> columns = {{0, "a", 0, 10}, {1, "b", 0, 10}};
  const double sigma = 2.0, sensitivity = std::sqrt(5.0);  // Δ = sqrt(1 + 2d), d = 2
  std::vector<double> means;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    Dataset train{x.clone(), torch::zeros({n}, torch::kLong), 2, Task::kBinary};
    const auto release = dp_standardize(train, {}, columns, sigma, seed);
    means.push_back(release.means[1]);
    if (seed == 0) {
      EXPECT_DOUBLE_EQ(release.sensitivity, sensitivity);
      EXPECT_EQ(release.noise_multiplier, sigma);
      EXPECT_NEAR(train.inputs.select(1, 0).mean().item<double>(),
                  (5.0 - release.means[0]) / release.stds[0], 1e-4);
    }
  }
  // mean_b = c + r·(S_u + e_u)/(n + e_0) with S_u = 0 (every b at the centre): std ≈ r·σΔ/n.
  const auto measured = torch::tensor(means, torch::kFloat64);
  const double expected_std = 5.0 * sigma * sensitivity / static_cast<double>(n);
  EXPECT_NEAR(measured.std().item<double>(), expected_std, 0.08 * expected_std);
  EXPECT_NEAR(measured.mean().item<double>(), 5.0, 4 * expected_std / std::sqrt(2000.0));
  // Same key, one more record far outside the public range: clipped to the range's edge, it moves
  // the released mean of 'a' by about r/n, not by its own size.
  Dataset plain{x.clone(), torch::zeros({n}, torch::kLong), 2, Task::kBinary};
  Dataset outlier{torch::cat({x, torch::tensor({{1e9, 5.0}})}), torch::zeros({n + 1}, torch::kLong),
                  2, Task::kBinary};
  const double moved = dp_standardize(outlier, {}, columns, sigma, 3).means[0] -
                       dp_standardize(plain, {}, columns, sigma, 3).means[0];
  EXPECT_GT(moved, 0);
  EXPECT_LT(moved, 2 * 5.0 / static_cast<double>(n));
}

// Column 1 holds codes: "b" (code 0) in 600 rows, "a" (1) in `rows_a`, "c" (2) in the last one;
// column 0 counts the rows, column 2 is 7 throughout.
Dataset coded_table(int64_t rows_a = 300) {
  const int64_t n = 600 + rows_a + 1;
  auto x = torch::zeros({n, 3});
  x.select(1, 0).copy_(torch::arange(n));
  x.select(1, 2).fill_(7);
  x.select(1, 1).slice(0, 600, 600 + rows_a).fill_(1);
  x[n - 1][1] = 2;
  Dataset table;
  table.inputs = x;
  table.labels = torch::zeros({n}, torch::kLong);
  table.num_classes = 2;
  table.task = Task::kBinary;
  return table;
}

TEST(DpVocabulary, ThresholdsPassAnExamplesOwnValuesWithTheStatedProbability) {
  // Φ((τ − 1)/s)^k = 1 − p, read back through the CDF.
  for (const size_t k : {1, 3}) {
    for (const double p : {1e-7, 1e-3, 0.2}) {
      const double s = 4.0, tau = vocabulary_threshold(s, k, p);
      const double pass = 1 - std::pow(privacy::normal_cdf((tau - 1) / s), static_cast<double>(k));
      EXPECT_NEAR(pass, p, 1e-6 * p) << k << " " << p;
    }
  }
  EXPECT_DOUBLE_EQ(vocabulary_delta(0.2), -std::log(0.8));  // > p: both directions are covered
  // Measured: the value one example alone holds is released with probability p, the others always.
  const std::vector<DeferredCategorical> columns = {{1, "g", {"b", "a", "c"}}};
  const double sigma = 3.0, p = 0.2;
  const int trials = 1000;
  int rare = 0;
  for (uint64_t seed = 0; seed < trials; ++seed) {
    auto train = coded_table();
    const auto kept = dp_vocabulary(train, {}, columns, sigma, p, seed).vocabularies.at(0);
    EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), "a") &&
                std::binary_search(kept.begin(), kept.end(), "b"));
    rare += std::binary_search(kept.begin(), kept.end(), "c") ? 1 : 0;
  }
  const double spread = std::sqrt(p * (1 - p) / trials);
  EXPECT_NEAR(rare / static_cast<double>(trials), p, 4 * spread);
}

TEST(DpVocabulary, ReleasesSortedVocabulariesAndEncodesEverySplitWithThem) {
  auto train = coded_table();
  auto test = coded_table(5);
  test.inputs[0][1] = 3;  // a value only the test split holds: never a candidate
  const std::vector<DeferredCategorical> columns = {{1, "g", {"b", "a", "c", "only-in-test"}}};
  const auto release = dp_vocabulary(train, {&test}, columns, 2.0, 1e-6, 9);
  EXPECT_EQ(release.vocabularies, (std::vector<std::vector<std::string>>{{"a", "b"}}));
  EXPECT_DOUBLE_EQ(release.sensitivity, 1.0);
  EXPECT_EQ(release.noise_multiplier, 2.0);
  EXPECT_NEAR(release.delta, 1e-6, 1e-12);
  // [row, g=a, g=b, 7]: the other features keep their order around the one-hot block.
  ASSERT_EQ(train.inputs.sizes(), (std::vector<int64_t>{901, 4}));
  EXPECT_TRUE(torch::equal(train.inputs[0], torch::tensor({0.0F, 0.0F, 1.0F, 7.0F})));
  EXPECT_TRUE(torch::equal(train.inputs[600], torch::tensor({600.0F, 1.0F, 0.0F, 7.0F})));
  EXPECT_TRUE(torch::equal(train.inputs[600].slice(0, 1, 3).sum(), torch::tensor(1.0F)));
  EXPECT_TRUE(torch::equal(train.inputs[-1].slice(0, 1, 3), torch::zeros({2})));  // "c": outside
  ASSERT_EQ(test.inputs.size(1), 4);
  EXPECT_TRUE(torch::equal(test.inputs[0].slice(0, 1, 3), torch::zeros({2})));
  EXPECT_TRUE(torch::equal(test.inputs[600].slice(0, 1, 3), torch::tensor({1.0F, 0.0F})));
}

TEST(DpVocabulary, EmbeddingCodesPointIntoTheReleasedVocabulary) {
  auto train = coded_table();
  auto validation = train.with(train.inputs.slice(0, 0, 10), train.labels.slice(0, 0, 10));
  const std::vector<DeferredCategorical> columns = {{1, "g", {"b", "a", "c"}}};
  const auto release =
      dp_vocabulary(train, {&validation}, columns, 2.0, 1e-6, 9, CategoricalEncoding::kEmbedding);
  EXPECT_EQ(release.vocabularies, (std::vector<std::vector<std::string>>{{"a", "b"}}));
  // The feature stays where it was: raw code 0 ("b") → 2, 1 ("a") → 1, 2 ("c", outside) → 0.
  ASSERT_EQ(train.inputs.sizes(), (std::vector<int64_t>{901, 3}));
  EXPECT_TRUE(torch::equal(train.inputs[0], torch::tensor({0.0F, 2.0F, 7.0F})));
  EXPECT_TRUE(torch::equal(train.inputs[600], torch::tensor({600.0F, 1.0F, 7.0F})));
  EXPECT_EQ(train.inputs[-1][1].item<float>(), 0.0F);
  // A split sharing the training split's storage is coded once, not twice.
  EXPECT_TRUE(torch::equal(validation.inputs.select(1, 1), torch::full({10}, 2.0F)));
  ASSERT_EQ(train.category_codes.size(), 1U);
  EXPECT_EQ(train.category_codes[0].feature, 1);
  EXPECT_EQ(train.category_codes[0].categories, 2);
  EXPECT_EQ(validation.category_codes.size(), 1U);
}

// The public grid: every value lies in its bin, the bins tile the line in order, one binade each.
TEST(DpBounds, TheGridIsFixedBinadesAroundAZeroBin) {
  EXPECT_EQ(bounds_bin(0.0), kZeroBin);
  EXPECT_EQ(bounds_bin_edges(kZeroBin), std::pair(-std::ldexp(1.0, -16), std::ldexp(1.0, -16)));
  EXPECT_EQ(bounds_bin_edges(bounds_bin(1.0)), std::pair(1.0, 2.0));
  EXPECT_EQ(bounds_bin_edges(bounds_bin(1.999)), std::pair(1.0, 2.0));
  EXPECT_EQ(bounds_bin_edges(bounds_bin(-3.0)), std::pair(-4.0, -2.0));
  EXPECT_EQ(bounds_bin_edges(bounds_bin(100.0)), std::pair(64.0, 128.0));
  EXPECT_EQ(bounds_bin_edges(bounds_bin(1e15)),
            std::pair(std::ldexp(1.0, 31), std::ldexp(1.0, 32)));
  EXPECT_EQ(bounds_bin(-1e15), 0);
  EXPECT_EQ(bounds_bin(std::numeric_limits<double>::infinity()), kBoundsBins - 1);
  for (int bin = 0; bin + 1 < kBoundsBins; ++bin)
    EXPECT_EQ(bounds_bin_edges(bin).second, bounds_bin_edges(bin + 1).first) << bin;
  for (const double x : {-5e5, -0.7, -1e-5, 3e-6, 0.3, 42.0, 9e8}) {
    const auto [low, high] = bounds_bin_edges(bounds_bin(x));
    EXPECT_TRUE(low <= x && x < high) << x;
  }
  // The range runs between the outermost passing bins' outer edges.
  std::vector<double> counts(kBoundsBins, 0.0);
  counts[bounds_bin(-3.0)] = 10;
  counts[bounds_bin(0.5)] = 4;  // below the threshold: ignored
  counts[bounds_bin(100.0)] = 10;
  EXPECT_EQ(range_from_counts(counts, 5.0), std::pair(-4.0, 128.0));
  EXPECT_EQ(range_from_counts(counts, 10.0), std::nullopt);
}

// Measured over seeds: a bin holding m examples passes with probability Φ((m − τ)/s), s = σ√k and
// τ = s·Φ⁻¹(1 − 10⁻³/97) (both computed here from erfc, not from the library), so the noise has
// the claimed std over the √k sensitivity, and an empty bin almost never widens the range.
TEST(DpBounds, ABinPassesWithTheProbabilityItsNoiseGives) {
  const auto phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  double z = 0, step = 8;  // Φ(z) = 1 − 10⁻³/97 by bisection
  for (int i = 0; i < 60; ++i, step /= 2)
    if (phi(z + step) < 1 - 1e-3 / 97) z += step;
  const double sigma = 1.5, s = sigma * std::sqrt(2.0), tau = s * z;
  EXPECT_NEAR(bounds_threshold(s), tau, 1e-9);
  const int trials = 600;
  for (const int m : {6, 9, 12}) {
    // Column 0: 500 values in [16, 32) and m at 600 in [512, 1024); column 1 (a second column, so
    // k = 2): 500 zeros.
    auto x = torch::zeros({500 + m, 2});
    x.select(1, 0).slice(0, 0, 500).fill_(20);
    x.select(1, 0).slice(0, 500).fill_(600);
    const Dataset train{x, torch::zeros({500 + m}, torch::kLong), 2, Task::kBinary};
    int passed = 0, widened = 0;
    for (int seed = 0; seed < trials; ++seed) {
      const auto release =
          dp_bounds(train, {{0, "a", 0, 0}, {1, "b", 0, 0}}, sigma, static_cast<uint64_t>(seed));
      passed += release.highs[0] == 1024.0 ? 1 : 0;
      widened += release.lows[0] != 16.0 ? 1 : 0;
      widened += release.highs[1] != std::ldexp(1.0, -16) || release.lows[1] != -release.highs[1];
      if (seed == 0) {
        EXPECT_DOUBLE_EQ(release.sensitivity, std::sqrt(2.0));
        EXPECT_NEAR(release.threshold, tau, 1e-9);
        EXPECT_EQ(release.columns, (std::vector<std::string>{"a", "b"}));
      }
    }
    const double expected = phi((m - tau) / s);
    const double standard_error = std::sqrt(expected * (1 - expected) / trials);
    EXPECT_NEAR(passed / static_cast<double>(trials), expected, 4 * standard_error + 1e-3) << m;
    // 2 columns x 96 empty bins x 600 trials at 10^-3/97 each: about 1.2 expected.
    EXPECT_LE(widened, 8) << m;
  }
  // Too few rows for the noise: the column is named, nothing is guessed.
  const Dataset tiny{torch::full({3, 1}, 5.0), torch::zeros({3}, torch::kLong), 2, Task::kBinary};
  EXPECT_THAT(error_of([&] {
                dp_bounds(tiny, {{0, "age", 0, 0}}, 1.0, 1);
              }),
              HasSubstr("column 'age' has no range"));
  // Scaling over a released range clamps, as public min-max scaling does.
  Dataset scaled{torch::tensor({{-10.0}, {24.0}, {100.0}}), torch::zeros({3}, torch::kLong), 2,
                 Task::kBinary};
  scale_to_ranges(scaled, {{0, "a", 0, 0}}, {16.0}, {32.0});
  EXPECT_TRUE(
      torch::allclose(scaled.inputs.flatten(), torch::tensor({0.0, 0.5, 1.0}).to(torch::kFloat32)));
}

TEST(Sources, CategoriesWithoutAVocabularyAreReadAsCodesOnlyForDp) {
  Table table;
  table.options.missing = Missing::kFill;
  table.options.fill_value = 50;
  table.public_stats.columns.erase("sex");
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {}); }),
              HasSubstr("categorical column 'sex' has no public vocabulary"));
  table.options.defer_vocabulary = true;
  const std::string test_csv = (table.dir / "test.csv").string();
  testing::write_text(test_csv, "age,sex,outcome\n20,X,0\n21,M,1\n");
  const auto loaded = load_source(table.options, {table.csv}, {test_csv});
  ASSERT_EQ(loaded.deferred_categories.size(), 1U);
  const auto& sex = loaded.deferred_categories[0];
  EXPECT_EQ(sex.feature, 1);
  // Codes in the order read, the test file's new value appended: one code, one value.
  EXPECT_EQ(sex.values, (std::vector<std::string>{"F", "M", "X"}));
  EXPECT_TRUE(
      torch::equal(loaded.train.inputs.select(1, 1), torch::tensor({0.0F, 1.0F, 0.0F, 1.0F})));
  EXPECT_TRUE(torch::equal(loaded.test->inputs.select(1, 1), torch::tensor({2.0F, 1.0F})));
  // Under fill, a value spelled like the filled category would merge with the missing ones.
  testing::write_text(test_csv, "age,sex,outcome\n20,(missing),0\n");
  EXPECT_THAT(error_of([&] { load_source(table.options, {table.csv}, {test_csv}); }),
              AllOf(HasSubstr("line 2, column 'sex'"), HasSubstr("data.missing = fill gives")));
}

// The shipped own-data recipes, on the real tables, in CI-sized form.
struct SklearnData {
  TempDir dir;
  // A copy of the build's export (tests/CMakeLists.txt), so that a test may change its files.
  testing::CommandResult exported = copy_tables(dir.path());
  static testing::CommandResult copy_tables(const std::filesystem::path& to) {
#ifdef DPFORGE_SKLEARN_TABLES
    std::error_code error;
    std::filesystem::copy(DPFORGE_SKLEARN_TABLES, to,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing,
                          error);
    return {error ? 1 : 0, error ? "copying " DPFORGE_SKLEARN_TABLES ": " + error.message() : ""};
#else
    return {1, "built without Python: no exported scikit-learn tables"};
#endif
  }
  std::string set(const std::string& key, const std::string& file) const {
    return " --set " + key + "=" + (dir / file).string();
  }
};

// `dpforge train RECIPE --out OUT SETS`, for runs expected to be refused.
testing::CommandResult train_command(const std::string& recipe, const std::filesystem::path& out,
                                     const std::string& sets) {
  return testing::run_command(testing::kCli + " train " + testing::kRecipes + recipe + " --out " +
                              out.string() + sets);
}

// A CSV table split after its first `count` data lines: its header, and the two parts' lines
// (each newline-ended). `edit` may change a line (numbered from 0) before it is kept.
struct TableParts {
  std::string header, first, rest;
};
TableParts split_table(const std::filesystem::path& file, int count,
                       const std::function<void(int, std::string&)>& edit = {}) {
  std::istringstream all(testing::read_text(file));
  TableParts parts;
  std::getline(all, parts.header);
  std::string line;
  for (int row = 0; std::getline(all, line); ++row) {
    if (edit) edit(row, line);
    (row < count ? parts.first : parts.rest) += line + "\n";
  }
  return parts;
}
void write_table(const std::filesystem::path& file, const TableParts& table,
                 const std::string& lines) {
  testing::write_text(file, table.header + "\n" + lines);
}

nlohmann::json train_recipe(const std::string& recipe, const std::string& sets,
                            const TempDir& out) {
  const auto result =
      train_command(recipe, out / "run", " --set train.seed=3 --set run.threads=1" + sets);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return testing::read_json(out / "run" / "report.json");
}

TEST(OwnData, BreastCancerCsvTrainsPrivatelyWithTheAudit) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  TempDir out;
  const auto report = train_recipe("breast_cancer_dp.ini",
                                   data.set("data.train", "breast_cancer.csv") +
                                       data.set("data.stats", "breast_cancer_stats.json"),
                                   out);
  EXPECT_EQ(report["data"]["task"], "binary");
  EXPECT_EQ(report["data"]["train_examples"], nullptr);  // differs between neighbours
  EXPECT_EQ(report["diagnostics"]["train_examples"], 455);
  EXPECT_EQ(report["privacy"]["dataset_size"]["source"], "dp_count");
  EXPECT_EQ(report["audit"]["status"], "pass");
  EXPECT_LE(report["privacy"]["epsilon"].get<double>(), 2.0);
  // A mean predictor scores 0.5 AUROC and 63% accuracy (the benign share). One run moves by
  // several points with its noise, whose key follows the temporary folder's name (a clean-clone CI
  // run on 2026-12-06 read AUROC 0.943 and 83.3%; three seeds average 0.990 and 94.7%).
  EXPECT_GT(report["test_auroc"].get<double>(), 0.9);
  EXPECT_GT(report["test_accuracy"].get<double>(), 0.8);
}

// Two tables one row apart are neighbours under add/remove adjacency (issue 40 item 1): trained
// with the same recipe (hence the same keys), a declared size gives byte-identical privacy
// objects, and the DP count differs by exactly the one row, its noise being the same draw.
TEST(OwnData, TablesOneRowApartGiveTheSameMechanism) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  const auto table = split_table(data.dir / "breast_cancer.csv", 400);
  const auto &train_rows = table.first, &test_rows = table.rest;
  write_table(data.dir / "test.csv", table, test_rows);
  const std::string last_row = train_rows.substr(train_rows.rfind('\n', train_rows.size() - 2) + 1);
  const std::string without_last = train_rows.substr(0, train_rows.size() - last_row.size());
  auto privacy_of = [&](const std::string& rows, const std::string& sets) {
    write_table(data.dir / "train.csv", table, rows);
    TempDir out;
    return train_recipe("breast_cancer_dp.ini",
                        data.set("data.train", "train.csv") + data.set("data.test", "test.csv") +
                            data.set("data.stats", "breast_cancer_stats.json") +
                            " --set data.test_fraction=0 --set audit.enabled=false"
                            " --set train.epochs=5" +
                            sets,
                        out)["privacy"];
  };
  const std::string declared = " --set privacy.public_dataset_size=400";
  const auto with_row = privacy_of(train_rows, declared),
             without_row = privacy_of(without_last, declared);
  EXPECT_EQ(with_row.dump(), without_row.dump());
  EXPECT_EQ(with_row["dataset_size"]["source"], "public");
  EXPECT_EQ(with_row["adjacency"], "add_remove");
  EXPECT_DOUBLE_EQ(with_row["sample_rate"].get<double>(), 32.0 / 400);

  // Under replace-one the neighbour swaps the last row for another (the first test row): the same
  // N, used as is, and the same mechanism, calibrated for a 2C shift (more noise at the same ε).
  const std::string replace = " --set privacy.adjacency=replace_one";
  const auto original_rows = privacy_of(train_rows, replace);
  const auto swapped_rows =
      privacy_of(without_last + test_rows.substr(0, test_rows.find('\n') + 1), replace);
  EXPECT_EQ(original_rows.dump(), swapped_rows.dump());
  EXPECT_EQ(original_rows["adjacency"], "replace_one");
  EXPECT_EQ(original_rows["dataset_size"]["source"], "replace_one");
  EXPECT_EQ(original_rows["dataset_size"]["value"], 400);
  EXPECT_EQ(original_rows["preprocessing"].size(), 0U);
  EXPECT_EQ(original_rows["accountant_state"]["adjacency"], "replace_one");
  // dp_accounting 0.6 calibrates q = 0.08, 63 steps, (2, 1e-5) to sigma 1.61 (add/remove) and 2.53
  // (replace-one).
  EXPECT_GT(original_rows["noise_multiplier"].get<double>(),
            1.4 * with_row["noise_multiplier"].get<double>());
  EXPECT_LE(original_rows["epsilon"].get<double>(), with_row["target_epsilon"].get<double>());

  const auto counted = privacy_of(train_rows, ""), counted_without = privacy_of(without_last, "");
  EXPECT_EQ(counted["dataset_size"]["source"], "dp_count");
  EXPECT_EQ(counted["dataset_size"]["value"].get<int64_t>(),
            counted_without["dataset_size"]["value"].get<int64_t>() + 1);
  // N + 20 Z, rounded: near 400, and equal to it for about 2% of keys (the run key hashes the
  // test's temporary paths), so "not 400" would be a flaky test; 6 sigma is not.
  EXPECT_NEAR(counted["dataset_size"]["value"].get<double>(), 400, 6 * 20.0);
  EXPECT_EQ(counted["preprocessing"].size(), 1U);
  EXPECT_EQ(counted["accountant_state"]["history"][0]["noise_multiplier"], 20.0);
}

TEST(OwnData, DigitsNpzAndDiabetesRegressionTrainPrivately) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  TempDir digits_out, diabetes_out;
  const auto digits =
      train_recipe("digits_dp.ini",
                   data.set("data.train", "digits.npz") +
                       data.set("data.stats", "digits_stats.json") + " --set train.epochs=10",
                   digits_out);
  EXPECT_EQ(digits["data"]["classes"], 10);
  EXPECT_EQ(digits["data"]["example_shape"], nlohmann::json({1, 8, 8}));
  EXPECT_GT(digits["test_accuracy"].get<double>(), 0.6);  // chance: 10%
  const auto diabetes = train_recipe(
      "diabetes_dp.ini",
      data.set("data.train", "diabetes.csv") + data.set("data.stats", "diabetes_stats.json"),
      diabetes_out);
  EXPECT_TRUE(diabetes["test_accuracy"].is_null());
  // Predicting the mean scores an RMSE of about 77 on this target.
  EXPECT_LT(diabetes["test_rmse"].get<double>(), 70.0);
  EXPECT_FALSE(diabetes["mia"].contains("modified_entropy"));
  EXPECT_EQ(diabetes["audit"]["status"], "pass");
}

// The shipped recipe without a statistics file (recipes/cars_mpg_dp.ini): the ranges of the
// numeric columns and the target, the vocabularies and the row count are all released under DP
// from the training split, three releases composed ahead of the DP-SGD steps.
TEST(OwnData, TheCarsRecipeTrainsFromItsSchemaAlone) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  TempDir out;
  const auto cars = train_recipe("cars_mpg_dp.ini", data.set("data.train", "cars.csv"), out);
  EXPECT_EQ(
      cars["data"]["dp_bounds"]["columns"],
      nlohmann::json({"displacement", "horsepower", "weight", "acceleration", "year", "mpg"}));
  EXPECT_FALSE(cars["data"].contains("dp_statistics"));  // min-max: no means and stds
  EXPECT_EQ(cars["data"]["dp_vocabulary"]["columns"], nlohmann::json({"cylinders", "origin"}));
  EXPECT_EQ(cars["privacy"]["preprocessing"].size(), 3U);
  EXPECT_EQ(cars["privacy"]["dataset_size"]["source"], "dp_count");
  EXPECT_LE(cars["privacy"]["epsilon"].get<double>(), 3.0);
  EXPECT_EQ(cars["audit"]["status"], "pass");
  // Predicting the training mean scores an RMSE of about 7.8 mpg on this target; four seeds of the
  // recipe read 3.97 to 4.14.
  EXPECT_LT(cars["test_rmse"].get<double>(), 6.0);
  const auto model = testing::read_json(out / "run" / "model.json");
  const auto& mpg = cars["data"]["dp_bounds"];
  EXPECT_EQ(model["preprocessing"]["target"]["std"],
            0.5 * (mpg["highs"][5].get<double>() - mpg["lows"][5].get<double>()));
}

// Issue 42's smallest recipe (recipes/cars_mpg_minimal.ini): only data.train, data.label,
// data.categorical, data.missing and the privacy target. Its defaults resolve to a fifth held out,
// min-max scaling over DP ranges and DP vocabularies (auto sigma_s), an mlp and, since mpg is not
// declared categorical, regression; the recipe keeps "auto" (what a sweep or a resume compares),
// the report and model.json the resolved network. `dpforge predict` scores a held-out file, and
// load_model.py and its TorchScript export reproduce the scores.
TEST(OwnData, TheMinimalRecipeTrainsPredictsAndExports) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  const auto table = split_table(data.dir / "cars.csv", 346);
  write_table(data.dir / "train.csv", table, table.first);
  write_table(data.dir / "new_cars.csv", table, table.rest);
  TempDir out;
  const auto cars = train_recipe("cars_mpg_minimal.ini", data.set("data.train", "train.csv"), out);
  const auto& values = cars["recipe"]["values"];
  EXPECT_EQ(values["model.arch"], "auto");
  EXPECT_EQ(values["data.scaling"], "auto");
  EXPECT_EQ(values["data.dp_stats_noise_multiplier"], "auto");
  EXPECT_EQ(cars["model"]["arch"], "mlp");
  EXPECT_THAT(cars["data"]["notes"].dump(), HasSubstr("train.task = auto: regression"));
  EXPECT_EQ(
      cars["data"]["dp_bounds"]["columns"],
      nlohmann::json({"displacement", "horsepower", "weight", "acceleration", "year", "mpg"}));
  EXPECT_EQ(cars["data"]["dp_bounds"]["noise_multiplier"], config::kDefaultStatsNoiseMultiplier);
  EXPECT_EQ(cars["data"]["dp_vocabulary"]["columns"], nlohmann::json({"cylinders", "origin"}));
  EXPECT_EQ(cars["privacy"]["preprocessing"].size(), 3U);
  EXPECT_LE(cars["privacy"]["epsilon"].get<double>(), 3.0);
  EXPECT_EQ(cars["audit"]["status"], "pass");
  // 346 rows, 12 of them with a missing value, a fifth of the rest held out.
  EXPECT_EQ(cars["data"]["test_examples"], 67);
  // Predicting the training mean scores an RMSE of about 7.8 mpg on this target.
  EXPECT_LT(cars["test_rmse"].get<double>(), 6.0);
  const auto model = testing::read_json(out / "run" / "model.json");
  EXPECT_EQ(model["model"]["arch"], "mlp");
  const auto predictions = out / "predictions.csv";
  const auto scored =
      testing::run_command(testing::kCli + " predict " + (out / "run").string() + " " +
                           (data.dir / "new_cars.csv").string() + " --out " + predictions.string());
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  EXPECT_EQ(read_all(testing::read_text(predictions)).size(), 61U);  // 60 rows and the header
  const auto python = testing::run_command(
      std::string(DPFORGE_PYTHON) + " " + DPFORGE_SOURCE_DIR + "/scripts/load_model.py " +
      (out / "run").string() + " " + (data.dir / "new_cars.csv").string() + " --compare " +
      predictions.string() + " --torchscript " + (out / "model.ts").string());
  EXPECT_EQ(python.exit_code, 0) << python.output;
  // A label declared categorical names its classes: a private run never reads them off the labels.
  const auto refused = train_command(
      "cars_mpg_minimal.ini", out / "refused",
      data.set("data.train", "train.csv") + " --set data.categorical=cylinders,origin,mpg");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output,
              HasSubstr("data.label 'mpg' is in data.categorical, list its classes"));
}

// The same tensors through the NPZ and IDX paths train the same bits as the built-in reader (a
// non-private run: a private run's noise key is derived from the recipe, which names the format).
TEST(OwnData, FashionMnistThroughNpzAndIdxTrainsTheSameModel) {
  TempDir dir;
  const std::string root = default_fashion_mnist_root().string();
  if (!std::filesystem::exists(root + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed in " << root;
  }
  const auto script = fmt::format(
      "import gzip, numpy as np\n"
      "def idx(name, skip):\n"
      "    return np.frombuffer(gzip.open('{0}/' + name).read()[skip:], np.uint8)\n"
      "for split, n in (('train', 60000), ('t10k', 10000)):\n"
      "    x = idx(split + '-images-idx3-ubyte.gz', 16).reshape(n, 28, 28)\n"
      "    y = idx(split + '-labels-idx1-ubyte.gz', 8)\n"
      "    np.savez('{1}/' + split + '.npz', x=x, y=y)\n",
      root, dir.path().string());
  testing::write_text(dir / "export.py", script);
  ASSERT_EQ(testing::run_command(std::string(DPFORGE_PYTHON) + " " + (dir / "export.py").string())
                .exit_code,
            0);
  const std::string common =
      " --set privacy.enabled=false --set data.train_subset=1000 --set data.test_subset=500"
      " --set train.epochs=1 --set train.seed=4 --set run.threads=1";
  auto run = [&](const std::string& name, const std::string& sets) {
    const auto result = testing::run_command(testing::kCli + " train " + testing::kQuickstart +
                                             " --out " + (dir / name).string() + common + sets);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return testing::read_text(dir / name / "model.pt");
  };
  const auto builtin = run("builtin", "");
  const auto npz =
      run("npz", " --set data.format=npz --set data.train=" + (dir / "train.npz").string() +
                     " --set data.test=" + (dir / "t10k.npz").string());
  const auto idx = run(
      "idx", " --set data.format=idx --set data.train=" + root + "/train-images-idx3-ubyte.gz," +
                 root + "/train-labels-idx1-ubyte.gz --set data.test=" + root +
                 "/t10k-images-idx3-ubyte.gz," + root + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_FALSE(builtin.empty());
  EXPECT_EQ(npz, builtin);
  EXPECT_EQ(idx, builtin);
}

// A private run with DP statistics: the release is composed before training (ε grows, the steps
// do not), recorded in the report, and the audit tests the training steps' own claim.
TEST(OwnData, DpStatisticsAreSpentInTheRunsEpsilon) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  // Public ranges but no means: standardize then needs the DP release. (The size is declared:
  // this test is about the statistics' release alone.)
  const std::string sets = data.set("data.train", "breast_cancer.csv") +
                           data.set("data.stats", "breast_cancer_stats.json") +
                           " --set data.scaling=standardize --set privacy.target_epsilon=0"
                           " --set privacy.noise_multiplier=3 --set train.epochs=5"
                           " --set privacy.public_dataset_size=455";
  TempDir with_release, without;
  const auto released = train_recipe(
      "breast_cancer_dp.ini", sets + " --set data.dp_stats_noise_multiplier=5", with_release);
  const auto refused = train_command("breast_cancer_dp.ini", without / "run",
                                     sets + " --set data.dp_stats_noise_multiplier=0");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("mean and std of columns.mean radius"));
  const auto plain = train_recipe("breast_cancer_dp.ini",
                                  data.set("data.train", "breast_cancer.csv") +
                                      data.set("data.stats", "breast_cancer_stats.json") +
                                      " --set privacy.target_epsilon=0 --set "
                                      "privacy.noise_multiplier=3 --set train.epochs=5"
                                      " --set privacy.public_dataset_size=455",
                                  without);
  const auto& privacy = released["privacy"];
  EXPECT_EQ(privacy["steps"], plain["privacy"]["steps"]);
  // Exactly one release of sigma_s = 5 composed before the DP-SGD steps, nothing more or less.
  const double expected = privacy::epsilon_for(
      privacy::accountant_factory(privacy::AccountantKind::kPld, {{5.0, 1.0, 1}}), 3.0,
      privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>(), 1e-5);
  EXPECT_NEAR(privacy["epsilon"].get<double>(), expected, 1e-9);
  EXPECT_GT(privacy["epsilon"].get<double>(), plain["privacy"]["epsilon"].get<double>() + 0.05);
  ASSERT_EQ(privacy["preprocessing"].size(), 1U);
  EXPECT_EQ(privacy["preprocessing"][0]["noise_multiplier"], 5.0);
  EXPECT_EQ(privacy["accountant_state"]["history"][0]["sample_rate"], 1.0);
  EXPECT_EQ(released["data"]["dp_statistics"]["columns"].size(), 30U);
  EXPECT_NEAR(released["audit"]["claim_audited"]["epsilon"].get<double>(),
              plain["privacy"]["epsilon"].get<double>(), 1e-9);
  EXPECT_EQ(released["audit"]["status"], "pass");
  // A release that alone exceeds the budget is refused, not trained around with zero steps.
  const auto over = train_command(
      "breast_cancer_dp.ini", without / "over",
      sets + " --set data.dp_stats_noise_multiplier=0.5 --set privacy.target_epsilon=1");
  EXPECT_EQ(over.exit_code, 2) << over.output;
  EXPECT_THAT(over.output,
              AllOf(HasSubstr("release alone"), HasSubstr("privacy.target_epsilon = 1")));
}

// The breast-cancer table with a `clinic` column: north and south alternate, and the first patient
// alone was seen at "only-patient-0". Written as clinics.csv beside the export.
void write_clinics(const SklearnData& data) {
  std::istringstream original(testing::read_text(data.dir / "breast_cancer.csv"));
  std::string text, line;
  // The export writes CRLF line ends (RFC 4180); the clinic goes before each one.
  auto strip = [](std::string row) { return row.substr(0, row.find('\r')); };
  std::getline(original, line);
  text = strip(line) + ",clinic\n";
  for (int row = 0; std::getline(original, line); ++row)
    text += strip(line) +
            (row == 0       ? ",only-patient-0"
             : row % 2 == 0 ? ",north"
                            : ",south") +
            "\n";
  testing::write_text(data.dir / "clinics.csv", text);
}

// A categorical column without a public vocabulary: the vocabulary is released under DP (its
// counts' Gaussian composed in ε, its threshold's δ taken from the accountant's), a value one
// patient alone holds stays out of it, and `dpforge audit` re-applies the same vocabulary.
TEST(OwnData, DpVocabulariesAreSpentInTheRunsEpsilonAndDelta) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  write_clinics(data);
  const std::string sets = data.set("data.train", "clinics.csv") +
                           data.set("data.stats", "breast_cancer_stats.json") +
                           " --set data.categorical=clinic --set data.dp_stats_noise_multiplier=5"
                           " --set privacy.target_epsilon=0 --set privacy.noise_multiplier=3"
                           " --set train.epochs=5 --set privacy.public_dataset_size=455";
  TempDir out;
  const auto report = train_recipe("breast_cancer_dp.ini", sets, out);
  const auto& vocabulary = report["data"]["dp_vocabulary"];
  EXPECT_EQ(vocabulary["columns"], nlohmann::json({"clinic"}));
  EXPECT_EQ(vocabulary["vocabularies"].get<std::vector<std::vector<std::string>>>(),
            (std::vector<std::vector<std::string>>{{"north", "south"}}));
  const auto& privacy = report["privacy"];
  const double eta = vocabulary_delta(0.1 * 1e-5);  // the default share of delta = 1e-5
  EXPECT_NEAR(privacy["preprocessing_delta"].get<double>(), eta, 1e-15);
  EXPECT_EQ(privacy["delta"], 1e-5);
  ASSERT_EQ(privacy["preprocessing"].size(), 1U);
  const double expected = privacy::epsilon_for(
      privacy::accountant_factory(privacy::AccountantKind::kPld, {{5.0, 1.0, 1}}), 3.0,
      privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>(), 1e-5 - eta);
  EXPECT_NEAR(privacy["epsilon"].get<double>(), expected, 1e-9);
  EXPECT_EQ(report["data"]["example_shape"], nlohmann::json({32}));  // 30 numbers + 2 clinics
  EXPECT_EQ(report["audit"]["status"], "pass");
  const auto audited = testing::run_command(testing::kCli + " audit " + (out / "run").string() +
                                            " --set audit.shadow_models=1 --set audit.seed=1");
  EXPECT_EQ(audited.exit_code, 0) << audited.output;
  EXPECT_THAT(report["audit"]["claim_audited"]["scope"].get<std::string>(),
              HasSubstr("the DP vocabularies' thresholds"));
  const auto page = testing::run_command(testing::kCli + " report " + (out / "run").string());
  ASSERT_EQ(page.exit_code, 0) << page.output;
  EXPECT_THAT(testing::read_text(out / "run" / "report.html"),
              HasSubstr("of the DP-SGD steps alone"));
  // A recorded vocabulary that is not what the recipe releases is refused, not re-applied.
  auto tampered = testing::read_json(out / "run" / "report.json");
  tampered["data"]["dp_vocabulary"]["vocabularies"] =
      nlohmann::json::array({nlohmann::json::array({"south", "north"})});
  testing::write_text(out / "run" / "report.json", tampered.dump());
  const std::string audit = testing::kCli + " audit " + (out / "run").string() +
                            " --set audit.shadow_models=1 --set audit.seed=1";
  const auto unsorted = testing::run_command(audit);
  EXPECT_EQ(unsorted.exit_code, 2) << unsorted.output;
  EXPECT_THAT(unsorted.output, HasSubstr("column 'clinic' is not sorted and unique"));
  tampered["data"]["dp_vocabulary"]["vocabularies"] =
      nlohmann::json::array({nlohmann::json::array({"north", "south"})});
  for (const char* field : {"delta", "noise_multiplier", "threshold"}) {
    auto changed = tampered;
    changed["data"]["dp_vocabulary"][field] =
        changed["data"]["dp_vocabulary"][field].get<double>() * 0.5;
    testing::write_text(out / "run" / "report.json", changed.dump());
    const auto refused = testing::run_command(audit);
    EXPECT_EQ(refused.exit_code, 2) << field << ": " << refused.output;
    EXPECT_THAT(refused.output, HasSubstr("restore the recipe the run started with")) << field;
  }
  // With the DP key at 0 (its default, auto, releases it) the missing vocabulary is an error
  // naming the column.
  const auto refused = train_command(
      "breast_cancer_dp.ini", out / "refused",
      data.set("data.train", "clinics.csv") + data.set("data.stats", "breast_cancer_stats.json") +
          " --set data.categorical=clinic --set data.dp_stats_noise_multiplier=0");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("categorical column 'clinic' has no public vocabulary"));
}

// `dpforge predict` applies the run's own preprocessing (here DP-standardized numbers and a DP
// vocabulary, from model.json) to raw rows: scoring the run's test file reproduces the accuracy
// and log-loss the run reported on it, with or without the label column, and scripts/load_model.py
// (plain PyTorch, and its TorchScript export) reproduces predict's scores to 1e-5; a value outside
// the released vocabulary encodes as zeros, as in training; a missing feature column is named.
TEST(OwnData, PredictScoresRawRowsAsTheRunScoredItsTestFile) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  write_clinics(data);
  const auto table = split_table(data.dir / "clinics.csv", 455);
  const auto& header = table.header;
  write_table(data.dir / "train.csv", table, table.first);
  write_table(data.dir / "test.csv", table, table.rest);
  std::string line, unlabelled;
  std::vector<std::string> labels;
  for (std::istringstream test_lines(table.rest); std::getline(test_lines, line);) {
    // diagnosis is the last column but one (clinic was appended after it)
    const auto clinic = line.rfind(',');
    const auto diagnosis = line.rfind(',', clinic - 1);
    labels.push_back(line.substr(diagnosis + 1, clinic - diagnosis - 1));
    unlabelled += line.substr(0, diagnosis) + line.substr(clinic) + "\n";
  }
  const auto label_at = header.rfind(",diagnosis");
  testing::write_text(data.dir / "unlabelled.csv",
                      header.substr(0, label_at) + ",clinic\n" + unlabelled);
  TempDir out;
  const auto report = train_recipe(
      "breast_cancer_dp.ini",
      data.set("data.train", "train.csv") + data.set("data.test", "test.csv") +
          data.set("data.stats", "breast_cancer_stats.json") +
          " --set data.test_fraction=0 --set data.categorical=clinic --set data.scaling=standardize"
          " --set data.dp_stats_noise_multiplier=5 --set train.epochs=5",
      out);
  const auto model = testing::read_json(out / "run" / "model.json");
  EXPECT_EQ(model["preprocessing"]["columns"].back()["outside"], "zeros");  // a DP vocabulary
  EXPECT_EQ(model["privacy"]["private"], true);
  EXPECT_EQ(model["privacy"]["epsilon"], report["privacy"]["epsilon"]);
  for (const char* file : {"test.csv", "unlabelled.csv"}) {
    const auto predictions = out / (std::string(file) + ".predictions.csv");
    const auto scored =
        testing::run_command(testing::kCli + " predict " + (out / "run").string() + " " +
                             (data.dir / file).string() + " --out " + predictions.string());
    ASSERT_EQ(scored.exit_code, 0) << scored.output;
    const auto rows = read_all(testing::read_text(predictions));
    ASSERT_EQ(rows.size(), labels.size() + 1) << file;
    EXPECT_EQ(rows[0],
              (std::vector<std::string>{"line", "prediction", "p_benign", "p_malignant", "note"}));
    double correct = 0, log_loss = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
      correct += rows[i + 1][1] == labels[i] ? 1 : 0;
      log_loss -= std::log(std::stod(rows[i + 1][labels[i] == "benign" ? 2 : 3]));
    }
    const auto n = static_cast<double>(labels.size());
    EXPECT_NEAR(correct / n, report["test_accuracy"].get<double>(), 1e-12) << file;
    EXPECT_NEAR(log_loss / n, report["test_log_loss"].get<double>(), 1e-5) << file;
    // The same rows in plain PyTorch from model.json alone, and through a TorchScript export.
    const auto python = testing::run_command(
        std::string(DPFORGE_PYTHON) + " " + DPFORGE_SOURCE_DIR + "/scripts/load_model.py " +
        (out / "run").string() + " " + (data.dir / file).string() + " --compare " +
        predictions.string() + " --torchscript " + (out / "model.ts").string());
    EXPECT_EQ(python.exit_code, 0) << python.output;
    EXPECT_THAT(python.output, HasSubstr("(tolerance 1e-05)")) << python.output;
  }
  testing::write_text(data.dir / "no_clinic.csv", header.substr(0, header.rfind(',')) + "\n");
  const auto refused = testing::run_command(testing::kCli + " predict " + (out / "run").string() +
                                            " " + (data.dir / "no_clinic.csv").string());
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("the model reads column 'clinic'"));
}

// A table with no statistics file at all, only its label, its categorical column and how to fill
// missing values: the 30 numeric columns' ranges are released under DP (composed in ε ahead of the
// vocabulary), min-max scaling clamps to them, model.json records them, `dpforge predict` and
// load_model.py reproduce the run's test scores, and `dpforge audit` re-applies the recorded
// ranges (refusing a record this recipe would not release).
TEST(OwnData, ATableWithoutStatisticsTrainsOnDpRanges) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  write_clinics(data);
  const auto table = split_table(data.dir / "clinics.csv", 455, [](int row, std::string& line) {
    if (row % 7 == 3) line = line.substr(line.find(','));           // 'mean radius' missing
    if (row % 11 == 5) line = line.substr(0, line.rfind(',') + 1);  // the clinic missing
  });
  write_table(data.dir / "train.csv", table, table.first);
  write_table(data.dir / "test.csv", table, table.rest);
  const auto recipe = data.dir / "no_stats.ini";
  testing::write_text(recipe,
                      "[data]\ntrain = " + (data.dir / "train.csv").string() +
                          "\ntest = " + (data.dir / "test.csv").string() +
                          "\nlabel = diagnosis\nlabel_values = benign,malignant\n"
                          "categorical = clinic\nmissing = fill\nscaling = minmax\n"
                          "dp_stats_noise_multiplier = 2\n[model]\narch = mlp\nmlp_hidden = 32\n"
                          "[train]\nepochs = 5\nbatch_size = 32\nlr = 0.5\nseed = 3\n"
                          "[privacy]\nenabled = true\ntarget_epsilon = 0\n"
                          "noise_multiplier = 3\npublic_dataset_size = 455\n");
  TempDir out;
  const auto trained = testing::run_command(testing::kCli + " train " + recipe.string() +
                                            " --out " + (out / "run").string());
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const auto report = testing::read_json(out / "run" / "report.json");
  const auto& bounds = report["data"]["dp_bounds"];
  ASSERT_EQ(bounds["columns"].size(), 30U);
  EXPECT_EQ(bounds["columns"][0], "mean radius");
  EXPECT_DOUBLE_EQ(bounds["sensitivity"].get<double>(), std::sqrt(30.0));
  const auto lows = bounds["lows"].get<std::vector<double>>();
  const auto highs = bounds["highs"].get<std::vector<double>>();
  // mean radius: 6.98 to 28.1 in the table, most of it in [8, 16), and 0 where filled in.
  EXPECT_LE(lows[0], 8.0);
  EXPECT_GE(highs[0], 16.0);
  EXPECT_LE(highs[0], 32.0);
  const auto& privacy = report["privacy"];
  ASSERT_EQ(privacy["preprocessing"].size(), 2U);
  EXPECT_THAT(privacy["preprocessing"][0]["what"].get<std::string>(),
              HasSubstr("ranges of 30 numeric columns"));
  const double eta = vocabulary_delta(0.1 * 1e-5);
  const double expected = privacy::epsilon_for(
      privacy::accountant_factory(privacy::AccountantKind::kPld, {{2.0, 1.0, 1}, {2.0, 1.0, 1}}),
      3.0, privacy["sample_rate"].get<double>(), privacy["steps"].get<int64_t>(), 1e-5 - eta);
  EXPECT_NEAR(privacy["epsilon"].get<double>(), expected, 1e-9);
  EXPECT_EQ(report["audit"]["status"], "pass");
  const auto model = testing::read_json(out / "run" / "model.json");
  const auto& radius = model["preprocessing"]["columns"][0];
  EXPECT_EQ(radius["shift"], lows[0]);
  EXPECT_EQ(radius["scale"], highs[0] - lows[0]);
  EXPECT_EQ(radius["clamp"], true);
  const auto predictions = out / "predictions.csv";
  const auto scored =
      testing::run_command(testing::kCli + " predict " + (out / "run").string() + " " +
                           (data.dir / "test.csv").string() + " --out " + predictions.string());
  ASSERT_EQ(scored.exit_code, 0) << scored.output;
  const auto rows = read_all(testing::read_text(predictions));
  const auto test_rows_read = read_all(testing::read_text(data.dir / "test.csv"));
  ASSERT_EQ(rows.size(), test_rows_read.size());
  const auto label = static_cast<size_t>(
      std::find(test_rows_read[0].begin(), test_rows_read[0].end(), "diagnosis") -
      test_rows_read[0].begin());
  double correct = 0;
  for (size_t i = 1; i < rows.size(); ++i) correct += rows[i][1] == test_rows_read[i][label];
  EXPECT_NEAR(correct / static_cast<double>(rows.size() - 1), report["test_accuracy"].get<double>(),
              1e-12);
  const auto python = testing::run_command(
      std::string(DPFORGE_PYTHON) + " " + DPFORGE_SOURCE_DIR + "/scripts/load_model.py " +
      (out / "run").string() + " " + (data.dir / "test.csv").string() + " --compare " +
      predictions.string() + " --torchscript " + (out / "model.ts").string());
  EXPECT_EQ(python.exit_code, 0) << python.output;
  const std::string audit = testing::kCli + " audit " + (out / "run").string() +
                            " --set audit.shadow_models=1 --set audit.seed=1";
  const auto audited = testing::run_command(audit);
  EXPECT_EQ(audited.exit_code, 0) << audited.output;
  auto tampered = report;
  tampered["data"]["dp_bounds"]["noise_multiplier"] = 1.0;
  testing::write_text(out / "run" / "report.json", tampered.dump());
  const auto refused = testing::run_command(audit);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("restore the recipe and statistics file"));
}

// The clinic as a DP embedding (its vocabulary released under DP, one learned vector per clinic
// and one for the clinics outside it), through a kill and a resume: the resumed run reuses the
// released vocabulary and ends with the uninterrupted run's model bytes.
TEST(OwnData, EmbeddedDpCategoriesSurviveAResume) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  write_clinics(data);
  const std::string sets =
      data.set("data.train", "clinics.csv") + data.set("data.stats", "breast_cancer_stats.json") +
      " --set data.categorical=clinic --set data.categorical_encoding=embedding"
      " --set data.dp_stats_noise_multiplier=5 --set privacy.target_epsilon=0"
      " --set privacy.noise_multiplier=3 --set train.epochs=2 --set train.checkpoint_every=4"
      " --set train.seed=3 --set run.threads=1 --set audit.enabled=false";
  TempDir dir;
  const std::string train = testing::kCli + " train " + testing::kRecipes + "breast_cancer_dp.ini";
  const auto whole = testing::run_command(train + sets + " --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  const auto crashed = testing::run_command("DPFORGE_CRASH_AFTER_STEP=10 " + train + sets +
                                            " --out " + (dir / "run").string());
  ASSERT_NE(crashed.exit_code, 0) << crashed.output;
  const auto resumed = testing::run_command(train + sets + " --resume " + (dir / "run").string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(testing::read_text(dir / "whole" / "model.pt"),
            testing::read_text(dir / "run" / "model.pt"));
  const auto report = testing::read_json(dir / "run" / "report.json");
  EXPECT_EQ(
      report["data"]["dp_vocabulary"]["vocabularies"],
      testing::read_json(dir / "whole" / "report.json")["data"]["dp_vocabulary"]["vocabularies"]);
  EXPECT_EQ(report["data"]["example_shape"], nlohmann::json({31}));  // 30 numbers + 1 code
  // ceil(2 / q) Poisson steps in 2 epochs (about 29: q = 32 / the size's DP count, which moves
  // with the key, and the key with the temporary folder's name): two epochs recorded, the second
  // ending at the last step.
  ASSERT_EQ(report["epochs"].size(), 2U);
  const double q = report["privacy"]["sample_rate"].get<double>();
  EXPECT_EQ(report["privacy"]["planned_steps"], privacy::steps_for_epochs(2, q));
  EXPECT_EQ(report["epochs"][1]["steps"], report["privacy"]["planned_steps"]);
  EXPECT_EQ(report["steps"], report["privacy"]["planned_steps"]);
  // Codes 0..2 (outside, north, south) of 3 numbers each (round(1.6·3^0.56)), then the mlp on
  // 30 + 3 inputs: 9 + (33·32 + 32) + (32·32 + 32) + 33.
  EXPECT_EQ(report["model"]["parameters"], 9 + 33 * 32 + 32 + 32 * 32 + 32 + 33);
  EXPECT_GT(report["test_auroc"].get<double>(), 0.8) << report["test_accuracy"];
}

// A budget that stops the run early counts the thresholds' δ: the steps it took fit the target at
// δ − η, and one more would not.
TEST(OwnData, TheBudgetStopSpendsTheAccountantsShareOfDelta) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  write_clinics(data);
  TempDir out;
  const auto report = train_recipe(
      "breast_cancer_dp.ini",
      data.set("data.train", "clinics.csv") + data.set("data.stats", "breast_cancer_stats.json") +
          " --set data.categorical=clinic --set data.dp_stats_noise_multiplier=5"
          " --set privacy.noise_multiplier=1 --set privacy.target_epsilon=1.5"
          " --set train.epochs=10 --set audit.enabled=false",
      out);
  const auto& privacy = report["privacy"];
  ASSERT_TRUE(privacy["stopped_by_budget"].get<bool>());
  const int64_t steps = privacy["steps"].get<int64_t>();
  EXPECT_LT(steps, privacy["planned_steps"].get<int64_t>());
  const double eta = vocabulary_delta(0.1 * 1e-5);
  auto epsilon_after = [&](int64_t taken) {
    return privacy::epsilon_for(
        privacy::accountant_factory(privacy::AccountantKind::kPld,
                                    {{5.0, 1.0, 1}, {20.0, 1.0, 1}}),  // vocabulary, size count
        1.0, privacy["sample_rate"].get<double>(), taken,
        1e-5 - eta - privacy["support_delta"].get<double>());
  };
  EXPECT_NEAR(privacy["epsilon"].get<double>(), epsilon_after(steps), 1e-9);
  EXPECT_LE(epsilon_after(steps), 1.5);
  EXPECT_GT(epsilon_after(steps + 1), 1.5);
  // The ledger names what its ε composes beyond the steps.
  const auto ledger = testing::read_json(out / "run" / "privacy_ledger.json");
  EXPECT_EQ(ledger["status"], "finished");
  EXPECT_EQ(ledger["preprocessing_noise_multipliers"], nlohmann::json::array({5.0, 20.0}));
  EXPECT_NEAR(ledger["preprocessing_delta"].get<double>(), eta, 1e-15);
  EXPECT_EQ(ledger["epsilon"], privacy["epsilon"]);
}

// The same release standardizes an array source's inputs (one pooled mean and std) and a
// regression target (trained standardized, metrics back in its units) from public ranges alone.
TEST(OwnData, DpStatisticsStandardizeArrayInputsAndARegressionTarget) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  TempDir digits_out, diabetes_out;
  const auto digits = train_recipe(
      "digits_dp.ini",
      data.set("data.train", "digits.npz") + data.set("data.stats", "digits_stats.json") +
          " --set data.scaling=standardize --set data.dp_stats_noise_multiplier=5"
          " --set train.epochs=10",
      digits_out);
  const auto& pixels = digits["data"]["dp_statistics"];
  EXPECT_EQ(pixels["columns"], nlohmann::json::array({"(inputs)"}));
  EXPECT_DOUBLE_EQ(pixels["sensitivity"].get<double>(), std::sqrt(3.0));
  // The pooled pixel mean and std of all 1,797 images are 4.88 and 6.02 (numpy); the release's
  // noise std on the mean is r·σ·Δ/n = 8·5·√3/1437 ≈ 0.05.
  EXPECT_NEAR(pixels["means"][0].get<double>(), 4.88, 0.25);
  EXPECT_NEAR(pixels["stds"][0].get<double>(), 6.02, 0.25);
  EXPECT_GT(digits["test_accuracy"].get<double>(), 0.6);
  // The statistics' release, then the size's count (privacy.size_noise_multiplier).
  ASSERT_EQ(digits["privacy"]["preprocessing"].size(), 2U);
  EXPECT_EQ(digits["privacy"]["preprocessing"][1]["noise_multiplier"], 20.0);

  testing::write_text(data.dir / "diabetes_range.json",
                      R"({"about": "documented range only", "target": {"min": 25, "max": 346}})");
  const auto diabetes = train_recipe("diabetes_dp.ini",
                                     data.set("data.train", "diabetes.csv") +
                                         data.set("data.stats", "diabetes_range.json") +
                                         " --set data.dp_stats_noise_multiplier=5",
                                     diabetes_out);
  const auto& target = diabetes["data"]["dp_statistics"];
  EXPECT_EQ(target["columns"], nlohmann::json::array({"progression"}));
  // The target's mean and std over all 442 patients are 152 and 77; the release's noise std on
  // the mean is r·σ·Δ/n = 160.5·5·√3/353 ≈ 4 (the range's midpoint, 185.5, is far outside).
  EXPECT_NEAR(target["means"][0].get<double>(), 152.0, 16.0);
  EXPECT_NEAR(target["stds"][0].get<double>(), 77.0, 16.0);
  EXPECT_LT(diabetes["test_rmse"].get<double>(), 70.0);  // the mean alone scores about 77
  // Nothing left to estimate is an error, not a silent no-op that still spends budget.
  const auto idle = train_command("diabetes_dp.ini", diabetes_out / "idle",
                                  data.set("data.train", "diabetes.csv") +
                                      data.set("data.stats", "diabetes_stats.json") +
                                      " --set data.dp_stats_noise_multiplier=5");
  EXPECT_EQ(idle.exit_code, 2) << idle.output;
  EXPECT_THAT(idle.output, HasSubstr("no statistic needs estimating"));
}

// A run with DP statistics killed mid-training resumes with the release it made (same model
// bytes, same ε as an uninterrupted run) and refuses to resume on changed training data.
TEST(OwnData, DpStatisticsSurviveAResumeAndRefuseChangedData) {
  SklearnData data;
  ASSERT_EQ(data.exported.exit_code, 0) << data.exported.output;
  // Two columns without a public range: their DP ranges are released first, then standardized.
  auto stats = testing::read_json(data.dir / "breast_cancer_stats.json");
  stats["columns"].erase("mean radius");
  stats["columns"].erase("worst area");
  testing::write_text(data.dir / "partial_stats.json", stats.dump());
  const std::string sets = data.set("data.train", "breast_cancer.csv") +
                           data.set("data.stats", "partial_stats.json") +
                           " --set data.scaling=standardize --set data.dp_stats_noise_multiplier=5"
                           " --set privacy.target_epsilon=0 --set privacy.noise_multiplier=3"
                           " --set train.epochs=2 --set train.checkpoint_every=4"
                           " --set train.seed=3 --set run.threads=1";
  TempDir dir;
  const std::string train = testing::kCli + " train " + testing::kRecipes + "breast_cancer_dp.ini";
  const auto whole = testing::run_command(train + sets + " --out " + (dir / "whole").string());
  ASSERT_EQ(whole.exit_code, 0) << whole.output;
  for (const char* name : {"run", "changed"}) {
    const auto crashed = testing::run_command("DPFORGE_CRASH_AFTER_STEP=10 " + train + sets +
                                              " --out " + (dir / name).string());
    ASSERT_NE(crashed.exit_code, 0) << crashed.output;
  }
  const auto resumed = testing::run_command(train + sets + " --resume " + (dir / "run").string());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(testing::read_text(dir / "whole" / "model.pt"),
            testing::read_text(dir / "run" / "model.pt"));
  const auto a = testing::read_json(dir / "whole" / "report.json"),
             b = testing::read_json(dir / "run" / "report.json");
  EXPECT_EQ(a["privacy"]["epsilon"], b["privacy"]["epsilon"]);
  EXPECT_EQ(a["data"]["dp_statistics"]["means"], b["data"]["dp_statistics"]["means"]);
  EXPECT_EQ(a["data"]["dp_bounds"]["columns"], nlohmann::json({"mean radius", "worst area"}));
  EXPECT_EQ(a["data"]["dp_bounds"], b["data"]["dp_bounds"]);
  EXPECT_EQ(a["data"]["dp_statistics"]["columns"].size(), 30U);
  ASSERT_EQ(a["privacy"]["preprocessing"].size(), 3U);  // ranges, statistics, the DP count
  EXPECT_THAT(a["privacy"]["preprocessing"][0]["what"].get<std::string>(),
              HasSubstr("ranges of 2 numeric columns"));
  // A released column changed in every row: the release no longer describes the data.
  std::istringstream original(testing::read_text(data.dir / "breast_cancer.csv"));
  std::string text, line;
  std::getline(original, line);
  text = line + "\n";
  while (std::getline(original, line)) text += "99.0" + line.substr(line.find(',')) + "\n";
  testing::write_text(data.dir / "breast_cancer.csv", text);
  const auto refused =
      testing::run_command(train + sets + " --resume " + (dir / "changed").string());
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("training data differ"));
}

}  // namespace
}  // namespace dpforge::data::own_data_test
