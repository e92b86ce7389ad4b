// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/fashion_mnist.h"

#include <torch/torch.h>
#include <zlib.h>

#include <cstdlib>
#include <memory>

#include "dpforge/core/error.h"

namespace dpforge::data {
namespace {

constexpr const char* kInstallHint =
    "install the data with `apt-get install dataset-fashion-mnist` (scripts/setup.sh does this) "
    "or point data.root at a folder with the four Fashion-MNIST IDX .gz files";

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

// An IDX file of Fashion-MNIST's size is 47 MB decompressed; far more is a corrupt or hostile
// header (or a decompression bomb), refused before allocating it.
constexpr size_t kMaxIdxBytes = size_t{1} << 30;

uint32_t big_endian(const uint8_t bytes[4]) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

}  // namespace

std::filesystem::path default_fashion_mnist_root() {
  if (const char* env = std::getenv("DPFORGE_DATA_ROOT"); env != nullptr && *env != '\0') {
    return env;
  }
  return "/usr/share/datasets/fashion-mnist";
}

IdxFile parse_idx(const uint8_t* data, size_t size, uint8_t expected_rank,
                  const std::string& name) {
  size_t at = 0;
  auto take = [&](size_t count, const char* what) {
    if (size - at < count) {
      throw_input_error("{}: file is truncated: {} needs {} bytes, only {} present", name, what,
                        count, size - at);
    }
    const uint8_t* bytes = data + at;
    at += count;
    return bytes;
  };
  const uint8_t* magic = take(4, "the IDX header");
  // IDX magic: two zero bytes, a type code (0x08 = unsigned byte) and the rank.
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != expected_rank) {
    throw_input_error(
        "{}: not an IDX file of unsigned bytes with rank {} (magic {:02x}{:02x}{:02x}{:02x}, "
        "expected 000008{:02x}; images have rank 3, labels rank 1)",
        name, expected_rank, magic[0], magic[1], magic[2], magic[3], expected_rank);
  }
  IdxFile idx;
  size_t total = 1;
  for (uint8_t d = 0; d < expected_rank; ++d) {
    const int64_t dim = big_endian(take(4, "the IDX dimensions"));
    // Checked one factor at a time, so the product cannot overflow.
    if (dim <= 0 || static_cast<size_t>(dim) > kMaxIdxBytes / total) {
      throw_input_error("{}: implausible IDX dimension {} = {} (at most {} bytes in all)", name, d,
                        dim, kMaxIdxBytes);
    }
    idx.dims.push_back(dim);
    total *= static_cast<size_t>(dim);
  }
  const uint8_t* payload = take(total, "the IDX payload");
  idx.bytes.assign(payload, payload + total);
  if (at != size) {
    throw_input_error("{}: {} trailing bytes after the IDX payload", name, size - at);
  }
  return idx;
}

IdxFile read_idx_gz(const std::filesystem::path& path, uint8_t expected_rank) {
  if (!std::filesystem::exists(path)) {
    throw_input_error("{}: IDX file not found", path.string());
  }
  // gzread passes a file that is not gzip-compressed through unchanged: .gz or raw IDX alike.
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw_input_error("{}: cannot open file", path.string());
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  while (true) {
    const int got = gzread(file.get(), chunk, sizeof chunk);
    if (got < 0) {
      int code = 0;
      throw_input_error("{}: corrupt gzip data ({})", path.string(), gzerror(file.get(), &code));
    }
    if (got == 0) break;
    if (bytes.size() + static_cast<size_t>(got) > kMaxIdxBytes + 1024) {
      throw_input_error("{}: decompresses to more than {} bytes, more than dpforge reads as IDX",
                        path.string(), kMaxIdxBytes);
    }
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
  return parse_idx(bytes.data(), bytes.size(), expected_rank, path.string());
}

Dataset load_fashion_mnist(const std::filesystem::path& root, Split split) {
  const bool train = split == Split::kTrain;
  const auto images_path =
      root / (train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz");
  const auto labels_path =
      root / (train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz");
  const int64_t expected_count = train ? 60000 : 10000;

  IdxFile images, labels;
  try {
    images = read_idx_gz(images_path, 3);
    labels = read_idx_gz(labels_path, 1);
  } catch (const InputError& error) {
    throw InputError(fmt::format("{}; {}", error.what(), kInstallHint));
  }
  if (images.dims[1] != 28 || images.dims[2] != 28) {
    throw_input_error("{}: images are {}x{}, Fashion-MNIST images are 28x28", images_path.string(),
                      images.dims[1], images.dims[2]);
  }
  if (images.dims[0] != expected_count || labels.dims[0] != expected_count) {
    throw_input_error("{}: {} images and {} labels, the Fashion-MNIST {} split has {} of each; {}",
                      root.string(), images.dims[0], labels.dims[0], train ? "train" : "test",
                      expected_count, kInstallHint);
  }
  for (size_t i = 0; i < labels.bytes.size(); ++i) {
    if (labels.bytes[i] > 9) {
      throw_input_error("{}: label {} of example {} is outside 0..9", labels_path.string(),
                        labels.bytes[i], i);
    }
  }
  const int64_t n = images.dims[0];
  auto image_tensor = torch::from_blob(images.bytes.data(), {n, 1, 28, 28}, torch::kUInt8)
                          .to(torch::kFloat32)
                          .div_(255.0);
  auto label_tensor = torch::from_blob(labels.bytes.data(), {n}, torch::kUInt8).to(torch::kLong);
  Dataset dataset;  // ten classes, multiclass: the defaults
  dataset.inputs = std::move(image_tensor);
  dataset.labels = std::move(label_tensor);
  return dataset;
}

}  // namespace dpforge::data
