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
#include "src/data/bytes.h"

namespace dpforge::data {
namespace {

using detail::kSaveHint;
using detail::little;

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

}  // namespace

std::vector<uint8_t> detail::read_file_bytes(const std::filesystem::path& path, const char* what) {
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
  const auto bytes = detail::read_file_bytes(path, "NPY");
  return parse_npy(bytes.data(), bytes.size(), path.string());
}

}  // namespace dpforge::data
