// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <filesystem>
#include <string>

#include "dpforge/data/dataset.h"

namespace dpforge::data {

enum class Split { kTrain, kTest };

// Where Fashion-MNIST is looked for when a recipe leaves data.root empty: $DPFORGE_DATA_ROOT, else
// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
std::filesystem::path default_fashion_mnist_root();

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz under `root`. Validates the IDX magic
// numbers, the 28x28 shape, the counts (60000 / 10000 for the real data, and images == labels),
// the label range and that no file is truncated; any failure throws InputError naming the file,
// what is wrong and how to install the data.
Dataset load_fashion_mnist(const std::filesystem::path& root, Split split);

// Reads one gzip-compressed IDX file as raw bytes after its header; `expected_dims` are checked.
// Exposed for tests and other IDX datasets.
struct IdxFile {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};
IdxFile read_idx_gz(const std::filesystem::path& path, uint8_t expected_rank);

// Parses decompressed IDX bytes (header, dimensions, payload, nothing after); `name` names the
// source in messages. The parser behind read_idx_gz, exposed for the fuzzer.
IdxFile parse_idx(const uint8_t* data, size_t size, uint8_t expected_rank, const std::string& name);

}  // namespace dpforge::data
