// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/fashion_mnist.h"

#include <zlib.h>

#include <cstdlib>
#include <memory>

#include <torch/torch.h>

#include "dpforge/core/error.h"

namespace dpforge::data {
namespace {

constexpr const char* kInstallHint =
    "install the data with `apt-get install dataset-fashion-mnist` (scripts/setup.sh does this) "
    "or point data.root at a folder with the four Fashion-MNIST IDX .gz files";

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

void read_exact(gzFile file, void* out, size_t size, const std::filesystem::path& path,
                const char* what) {
  const int got = gzread(file, out, static_cast<unsigned>(size));
  if (got < 0) {
    int code = 0;
    throw_input_error("{}: corrupt gzip data while reading {} ({}); {}", path.string(), what,
                      gzerror(file, &code), kInstallHint);
  }
  if (static_cast<size_t>(got) != size) {
    throw_input_error("{}: file is truncated: {} needs {} bytes, only {} present; {}",
                      path.string(), what, size, got, kInstallHint);
  }
}

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

IdxFile read_idx_gz(const std::filesystem::path& path, uint8_t expected_rank) {
  if (!std::filesystem::exists(path)) {
    throw_input_error("{}: Fashion-MNIST file not found; {}", path.string(), kInstallHint);
  }
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) throw_input_error("{}: cannot open file; {}", path.string(), kInstallHint);

  uint8_t magic[4];
  read_exact(file.get(), magic, 4, path, "the IDX header");
  // IDX magic: two zero bytes, a type code (0x08 = unsigned byte) and the rank.
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != expected_rank) {
    throw_input_error(
        "{}: not an IDX file of unsigned bytes with rank {} (magic {:02x}{:02x}{:02x}{:02x}, "
        "expected 000008{:02x}); {}",
        path.string(), expected_rank, magic[0], magic[1], magic[2], magic[3], expected_rank,
        kInstallHint);
  }
  IdxFile idx;
  int64_t total = 1;
  for (uint8_t d = 0; d < expected_rank; ++d) {
    uint8_t raw[4];
    read_exact(file.get(), raw, 4, path, "the IDX dimensions");
    const int64_t dim = big_endian(raw);
    if (dim <= 0 || dim > (int64_t{1} << 28)) {
      throw_input_error("{}: implausible IDX dimension {} = {}; {}", path.string(), d, dim,
                        kInstallHint);
    }
    idx.dims.push_back(dim);
    total *= dim;
  }
  idx.bytes.resize(static_cast<size_t>(total));
  read_exact(file.get(), idx.bytes.data(), idx.bytes.size(), path, "the IDX payload");
  uint8_t extra;
  if (gzread(file.get(), &extra, 1) != 0) {
    throw_input_error("{}: trailing bytes after the IDX payload; {}", path.string(), kInstallHint);
  }
  return idx;
}

Dataset load_fashion_mnist(const std::filesystem::path& root, Split split) {
  const bool train = split == Split::kTrain;
  const auto images_path = root / (train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz");
  const auto labels_path = root / (train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz");
  const int64_t expected_count = train ? 60000 : 10000;

  IdxFile images = read_idx_gz(images_path, 3);
  IdxFile labels = read_idx_gz(labels_path, 1);
  if (images.dims[1] != 28 || images.dims[2] != 28) {
    throw_input_error("{}: images are {}x{}, Fashion-MNIST images are 28x28", images_path.string(),
                      images.dims[1], images.dims[2]);
  }
  if (images.dims[0] != expected_count || labels.dims[0] != expected_count) {
    throw_input_error(
        "{}: {} images and {} labels, the Fashion-MNIST {} split has {} of each; {}",
        root.string(), images.dims[0], labels.dims[0], train ? "train" : "test", expected_count,
        kInstallHint);
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
  return Dataset{image_tensor, label_tensor, 10};
}

}  // namespace dpforge::data
