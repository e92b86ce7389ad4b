// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/fashion_mnist.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <zlib.h>

#include "dpforge/core/error.h"
#include "test_util.h"

namespace dpforge::data {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TempDir;

void write_gz(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

std::vector<uint8_t> idx_header(uint8_t rank, std::vector<uint32_t> dims) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, rank};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  return bytes;
}

using testing::error_of;

TEST(FashionMnist, RealTrainAndTestSplitsHaveTheKnownShapeAndBalance) {
  const auto root = default_fashion_mnist_root();
  const auto train = load_fashion_mnist(root, Split::kTrain);
  const auto test = load_fashion_mnist(root, Split::kTest);
  EXPECT_EQ(train.inputs.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_EQ(test.inputs.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  // Fashion-MNIST is balanced: 6000 train and 1000 test examples per class.
  EXPECT_TRUE(torch::bincount(train.labels).eq(6000).all().item<bool>());
  EXPECT_TRUE(torch::bincount(test.labels).eq(1000).all().item<bool>());
  EXPECT_GE(train.inputs.min().item<float>(), 0.0F);
  EXPECT_LE(train.inputs.max().item<float>(), 1.0F);
  // Published statistic of the training images: mean 0.2860 (Xiao et al. 2017 loaders).
  EXPECT_NEAR(train.inputs.mean().item<double>(), 0.2860, 5e-4);
}

TEST(FashionMnist, MissingFolderSaysHowToInstall) {
  EXPECT_THAT(
      error_of([] { load_fashion_mnist("/nonexistent/fmnist", Split::kTrain); }),
      AllOf(HasSubstr("/nonexistent/fmnist/train-images-idx3-ubyte.gz"), HasSubstr("not found"),
            HasSubstr("apt-get install dataset-fashion-mnist"), HasSubstr("data.root")));
}

TEST(FashionMnist, TruncatedFileIsReported) {
  TempDir dir;
  auto bytes = idx_header(3, {60000, 28, 28});
  bytes.resize(bytes.size() + 1000);
  write_gz(dir / "t.gz", bytes);
  EXPECT_THAT(error_of([&] { read_idx_gz(dir / "t.gz", 3); }),
              AllOf(HasSubstr("t.gz"), HasSubstr("truncated")));
}

TEST(FashionMnist, WrongMagicIsReported) {
  TempDir dir;
  write_gz(dir / "labels.gz", idx_header(1, {10}));
  EXPECT_THAT(error_of([&] { read_idx_gz(dir / "labels.gz", 3); }),
              AllOf(HasSubstr("labels.gz"), HasSubstr("not an IDX file"), HasSubstr("rank 3")));
}

TEST(FashionMnist, GarbageIsReportedNotCrashed) {
  TempDir dir;
  testing::write_text(dir / "garbage.gz", "this is not gzip at all, just text");
  // zlib reads non-gzip input transparently, so this must fail on the magic number.
  EXPECT_THAT(error_of([&] { read_idx_gz(dir / "garbage.gz", 3); }), HasSubstr("garbage.gz"));
}

TEST(FashionMnist, WrongCountIsReported) {
  TempDir dir;
  auto images = idx_header(3, {2, 28, 28});
  images.resize(images.size() + 2 * 28 * 28);
  auto labels = idx_header(1, {2});
  labels.insert(labels.end(), {1, 2});
  write_gz(dir / "t10k-images-idx3-ubyte.gz", images);
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", labels);
  EXPECT_THAT(error_of([&] { load_fashion_mnist(dir.path(), Split::kTest); }),
              AllOf(HasSubstr("2 images and 2 labels"), HasSubstr("10000")));
}

TEST(Dataset, SubsetsAreDeterministicAndDistinct) {
  Dataset data{torch::arange(100, torch::kFloat).view({100, 1, 1, 1}), torch::arange(100) % 10, 10};
  EXPECT_EQ(take_first(data, 10).labels.sizes()[0], 10);
  const auto a = take_random(data, 30, 7);
  const auto b = take_random(data, 30, 7);
  EXPECT_TRUE(torch::equal(a.inputs, b.inputs));
  EXPECT_EQ(std::get<0>(torch::_unique(a.inputs.flatten())).numel(), 30);
  EXPECT_FALSE(torch::equal(a.inputs, take_random(data, 30, 8).inputs));
  EXPECT_EQ(take_random(data, 1000, 1).size(), 100);
}

}  // namespace
}  // namespace dpforge::data
