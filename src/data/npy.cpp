// SPDX-License-Identifier: Apache-2.0
#include "dpforge/data/npy.h"

#include <fmt/ranges.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "dpforge/core/error.h"

namespace dpforge::data {
namespace {

constexpr const char* kSaveHint =
    "save plain numeric arrays from Python with np.save / np.savez (allow_pickle=False), after "
    "np.ascontiguousarray(x)";

struct Dtype {
  torch::ScalarType type;
  size_t itemsize;
};

std::optional<Dtype> parse_descr(const std::string& descr) {
  static const std::map<std::string, Dtype> kDtypes = {
      {"|b1", {torch::kBool, 1}},   {"|u1", {torch::kUInt8, 1}}, {"<u1", {torch::kUInt8, 1}},
      {"|i1", {torch::kInt8, 1}},   {"<i1", {torch::kInt8, 1}},  {"<i2", {torch::kInt16, 2}},
      {"<i4", {torch::kInt32, 4}},  {"<i8", {torch::kInt64, 8}}, {"<f4", {torch::kFloat32, 4}},
      {"<f8", {torch::kFloat64, 8}}};
  const auto found = kDtypes.find(descr);
  if (found == kDtypes.end()) return std::nullopt;
  return found->second;
}

// The header dict, parsed strictly: the three keys the spec requires, nothing else.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

class HeaderParser {
 public:
  HeaderParser(std::string text, std::string name)
      : text_(std::move(text)), name_(std::move(name)) {}

  Header parse() {
    Header header;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() != '\'') {
          fail("descr",
               "a structured dtype (a list of fields); only plain numeric dtypes are read");
        }
        header.descr = quoted();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        header.shape = shape();
        has_shape = true;
      } else {
        fail(key, "an unknown header key (allowed: descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') ++at_;
    }
    ++at_;
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n')) ++at_;
    if (at_ != text_.size()) fail("header", "text after the closing brace");
    if (!has_descr || !has_order || !has_shape) {
      fail(!has_descr   ? "descr"
           : !has_order ? "fortran_order"
                        : "shape",
           "missing from the header");
    }
    return header;
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw_input_error("{}: NPY header field '{}': {}; {}", name_, field, what, kSaveHint);
  }
  int peek() const { return at_ < text_.size() ? static_cast<unsigned char>(text_[at_]) : -1; }
  void skip_space() {
    while (peek() == ' ') ++at_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail("header", fmt::format("expected '{}' at byte {}", c, at_));
    ++at_;
  }
  std::string quoted() {
    expect('\'');
    const size_t end = text_.find('\'', at_);
    if (end == std::string::npos) fail("header", "an unterminated string");
    std::string value = text_.substr(at_, end - at_);
    at_ = end + 1;
    return value;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.compare(at_, std::strlen(word), word) == 0) {
        at_ += std::strlen(word);
        return value;
      }
    }
    fail("fortran_order", "expected True or False");
  }
  std::vector<int64_t> shape() {
    expect('(');
    std::vector<int64_t> dims;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      int64_t dim = 0;
      bool digits = false;
      while (peek() >= '0' && peek() <= '9') {
        if (dim > (std::numeric_limits<int64_t>::max() - 9) / 10)
          fail("shape", "a dimension too large");
        dim = dim * 10 + (text_[at_++] - '0');
        digits = true;
      }
      if (!digits) fail("shape", "expected a tuple of non-negative integers");
      dims.push_back(dim);
      skip_space();
      if (peek() == ',')
        ++at_;
      else if (peek() != ')')
        fail("shape", "expected ',' or ')'");
    }
    ++at_;
    return dims;
  }

  std::string text_;
  std::string name_;
  size_t at_ = 0;
};

uint32_t little(const uint8_t* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

uint64_t little64(const uint8_t* bytes) {
  return uint64_t{little(bytes, 4)} | (uint64_t{little(bytes + 4, 4)} << 32);
}

// Inflates a raw-deflate member to exactly `declared` bytes. The output grows as it is produced
// (never allocated up front from the header's claim) and both sides are fed in pieces zlib's
// 32-bit counters can hold, so members over 4 GiB read too.
std::vector<uint8_t> inflate_member(const uint8_t* input, uint64_t compressed, uint64_t declared,
                                    const std::function<void(const char*)>& fail) {
  constexpr uint64_t kPiece = uint64_t{1} << 30;
  std::vector<uint8_t> out;
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) fail("zlib failed to start");
  struct End {
    z_stream* stream;
    ~End() { inflateEnd(stream); }
  } end{&stream};
  uint64_t fed = 0, produced = 0;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (stream.avail_in == 0 && fed < compressed) {
      stream.next_in = const_cast<Bytef*>(input + fed);
      stream.avail_in = static_cast<uInt>(std::min(compressed - fed, kPiece));
      fed += stream.avail_in;
    }
    if (produced == out.size() && out.size() == declared) {
      // Full: only the end of the stream may follow; one byte more means the header lied.
      uint8_t spare = 0;
      stream.next_out = &spare;
      stream.avail_out = 1;
      const uLong consumed = stream.total_in;
      status = inflate(&stream, Z_NO_FLUSH);
      if (stream.avail_out == 0) fail("inflates to more than its declared size");
      if (status == Z_STREAM_END) break;
      const bool progress =
          stream.total_in > consumed || (stream.avail_in == 0 && fed < compressed);
      if ((status == Z_OK || status == Z_BUF_ERROR) && progress) continue;
      break;
    }
    if (produced == out.size()) {
      out.resize(
          std::min<uint64_t>(declared, std::max<uint64_t>(uint64_t{1} << 24, 2 * out.size())));
    }
    stream.next_out = out.data() + produced;
    stream.avail_out = static_cast<uInt>(std::min<uint64_t>(out.size() - produced, kPiece));
    const uint64_t before = produced;
    const uInt in_before = stream.avail_in;
    status = inflate(&stream, Z_NO_FLUSH);
    produced += static_cast<uint64_t>(stream.next_out - (out.data() + before));
    const bool stuck = status == Z_BUF_ERROR && produced == before && stream.avail_in == in_before;
    if ((status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) || stuck) {
      fail("is not valid deflate data");
    }
  }
  if (status != Z_STREAM_END || produced != declared) {
    fail("does not inflate to its declared size");
  }
  return out;
}

std::vector<uint8_t> read_file(const std::filesystem::path& path, const char* what) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    throw_input_error("{}: {} file not found (paths are relative to the current folder)",
                      path.string(), what);
  }
  std::ifstream file(path, std::ios::binary);
  const auto size = std::filesystem::file_size(path, error);
  std::vector<uint8_t> bytes(error ? 0 : size);
  if (!file || !file.read(reinterpret_cast<char*>(bytes.data()),
                          static_cast<std::streamsize>(bytes.size()))) {
    throw_input_error("{}: cannot read the {} file", path.string(), what);
  }
  return bytes;
}

}  // namespace

torch::Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  static constexpr uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, kMagic, sizeof kMagic) != 0) {
    throw_input_error("{}: not an NPY file (it must begin with \\x93NUMPY); {}", name, kSaveHint);
  }
  const uint8_t major = data[6];
  if (major < 1 || major > 3) {
    throw_input_error("{}: NPY format version {}.{} is not one of 1.0, 2.0, 3.0", name, major,
                      data[7]);
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (size < 8 + length_bytes) throw_input_error("{}: truncated NPY header", name);
  const size_t header_length = little(data + 8, static_cast<int>(length_bytes));
  const size_t header_start = 8 + length_bytes;
  if (header_length > size - header_start) {
    throw_input_error("{}: truncated NPY header: it declares {} bytes, {} remain", name,
                      header_length, size - header_start);
  }
  const Header header =
      HeaderParser(std::string(reinterpret_cast<const char*>(data + header_start), header_length),
                   name)
          .parse();
  if (header.descr.find('O') != std::string::npos) {
    throw_input_error(
        "{}: NPY header field 'descr' = '{}': object arrays hold pickles, which "
        "dpforge never unpickles; {}",
        name, header.descr, kSaveHint);
  }
  const auto dtype = parse_descr(header.descr);
  if (!dtype) {
    throw_input_error(
        "{}: NPY header field 'descr' = '{}' is not supported (allowed: |b1, |u1, "
        "|i1, <i2, <i4, <i8, <f4, <f8: little-endian bool, integers and floats); {}",
        name, header.descr, kSaveHint);
  }
  if (header.fortran_order) {
    throw_input_error(
        "{}: NPY header field 'fortran_order' is True; dpforge reads C-order arrays "
        "only: save np.ascontiguousarray(x)",
        name);
  }
  const size_t payload = size - header_start - header_length;
  size_t count = 1, nonzero = 1;
  for (const int64_t dim : header.shape) {
    // An empty array's other dimensions must still make sane strides.
    if (dim != 0 && nonzero > (size_t{1} << 48) / static_cast<size_t>(dim)) {
      throw_input_error("{}: NPY header field 'shape' ({}) is implausibly large", name,
                        fmt::join(header.shape, ", "));
    }
    if (dim != 0) nonzero *= static_cast<size_t>(dim);
    if (dim != 0 && count > payload / static_cast<size_t>(dim)) {
      throw_input_error(
          "{}: NPY header field 'shape' promises more data than the {} bytes present "
          "(the file is truncated)",
          name, payload);
    }
    count *= static_cast<size_t>(dim);
  }
  if (count * dtype->itemsize != payload) {
    throw_input_error(
        "{}: NPY header field 'shape' ({}) needs {} bytes of data, the file has {} "
        "({})",
        name, fmt::join(header.shape, ", "), count * dtype->itemsize, payload,
        count * dtype->itemsize > payload ? "truncated" : "trailing bytes");
  }
  // Booleans arrive as bytes and become kBool only once each is known to be 0 or 1.
  const bool boolean = dtype->type == torch::kBool;
  auto tensor = torch::empty(header.shape,
                             torch::TensorOptions().dtype(boolean ? torch::kUInt8 : dtype->type));
  if (payload > 0) std::memcpy(tensor.data_ptr(), data + header_start + header_length, payload);
  if (!boolean) return tensor;
  if (tensor.numel() > 0 && tensor.max().item<int64_t>() > 1) {
    throw_input_error(
        "{}: NPY header field 'descr' = '|b1', but the data holds bytes other than 0 "
        "and 1",
        name);
  }
  return tensor.to(torch::kBool);
}

torch::Tensor read_npy(const std::filesystem::path& path) {
  const auto bytes = read_file(path, "NPY");
  return parse_npy(bytes.data(), bytes.size(), path.string());
}

std::map<std::string, torch::Tensor> parse_npz(const uint8_t* data, size_t size,
                                               const std::string& name) {
  auto fail = [&name](const std::string& what) -> void {
    throw_input_error("{}: not a readable NPZ (zip) archive: {}; {}", name, what, kSaveHint);
  };
  // The end-of-central-directory record: 22 bytes, followed by a comment of at most 64 KiB.
  size_t eocd = std::string::npos;
  for (size_t at = size >= 22 ? size - 22 : 0; size >= 22; --at) {
    if (little(data + at, 4) == 0x06054b50) {
      eocd = at;
      break;
    }
    if (at == 0 || size - at > 22 + 65535) break;
  }
  if (eocd == std::string::npos) fail("no end-of-central-directory record");
  uint64_t entries = little(data + eocd + 10, 2);
  uint64_t directory = little(data + eocd + 16, 4);
  if ((entries == 0xFFFF || directory == 0xFFFFFFFF) && eocd >= 20 &&
      little(data + eocd - 20, 4) == 0x07064b50) {
    const uint64_t record = little64(data + eocd - 12);
    if (record > size || size - record < 56 || little(data + record, 4) != 0x06064b50)
      fail("a broken zip64 end record");
    entries = little64(data + record + 32);
    directory = little64(data + record + 48);
  }
  std::map<std::string, torch::Tensor> arrays;
  auto fail_member = [&fail](const std::string& member) {
    return [&fail, member](const char* what) { fail(fmt::format("member '{}' {}", member, what)); };
  };
  uint64_t at = directory;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at > size || size - at < 46 || little(data + at, 4) != 0x02014b50) {
      fail("a broken central directory");
    }
    const uint32_t method = little(data + at + 10, 2);
    const uint32_t crc = little(data + at + 16, 4);
    uint64_t compressed = little(data + at + 20, 4), uncompressed = little(data + at + 24, 4);
    const size_t name_length = little(data + at + 28, 2), extra_length = little(data + at + 30, 2),
                 comment_length = little(data + at + 32, 2);
    uint64_t local = little(data + at + 42, 4);
    if (size - at - 46 < name_length + extra_length + comment_length) fail("a truncated entry");
    std::string member(reinterpret_cast<const char*>(data + at + 46), name_length);
    // Zip64 sizes and offsets live in the extra field (id 1), in this order, when saturated.
    for (size_t x = 0; x + 4 <= extra_length;) {
      const uint8_t* field = data + at + 46 + name_length + x;
      const size_t length = little(field + 2, 2);
      if (x + 4 + length > extra_length) fail("a truncated extra field");
      if (little(field, 2) == 1) {
        size_t off = 4;
        for (uint64_t* value : {&uncompressed, &compressed, &local}) {
          if (*value == 0xFFFFFFFF && off + 8 <= 4 + length) {
            *value = little64(field + off);
            off += 8;
          }
        }
      }
      x += 4 + length;
    }
    at += 46 + name_length + extra_length + comment_length;
    if (local > size || size - local < 30 || little(data + local, 4) != 0x04034b50)
      fail(fmt::format("member '{}' has no local header", member));
    const uint64_t start = local + 30 + little(data + local + 26, 2) + little(data + local + 28, 2);
    if (start > size || size - start < compressed)
      fail(fmt::format("member '{}' is truncated", member));
    std::vector<uint8_t> inflated;
    const uint8_t* bytes = data + start;
    if (method == 8) {
      inflated = inflate_member(bytes, compressed, uncompressed, fail_member(member));
      bytes = inflated.data();
    } else if (method != 0 || compressed != uncompressed) {
      fail(fmt::format("member '{}' uses compression method {} (only stored and deflate)", member,
                       method));
    }
    if (crc32_z(0, bytes, static_cast<size_t>(uncompressed)) != crc) {
      fail(fmt::format("member '{}' fails its CRC-32 check (the file is corrupt)", member));
    }
    if (member.size() > 4 && member.compare(member.size() - 4, 4, ".npy") == 0)
      member.resize(member.size() - 4);
    arrays[member] = parse_npy(bytes, uncompressed, name + ":" + member);
  }
  return arrays;
}

std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path) {
  const auto bytes = read_file(path, "NPZ");
  return parse_npz(bytes.data(), bytes.size(), path.string());
}

}  // namespace dpforge::data
