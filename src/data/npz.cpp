// SPDX-License-Identifier: Apache-2.0
// The .npz half of dpforge/data/npy.h: a zip reader (stored and deflate members, zip64, CRC-32)
// that hands each member to parse_npy.
#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <functional>

#include "dpforge/core/error.h"
#include "dpforge/data/npy.h"
#include "src/data/bytes.h"

namespace dpforge::data {
namespace {

using detail::kSaveHint;
using detail::little;
using detail::little64;

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

}  // namespace

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
    // A recipe names members: one without a name, or a name given twice (the later would have
    // replaced the earlier unseen), is refused (found by fuzz/npz_fuzzer.cpp).
    if (member.empty() || member == ".npy") fail("a member without a name");
    if (arrays.count(member) != 0) fail(fmt::format("member '{}' appears twice", member));
    arrays[member] = parse_npy(bytes, uncompressed, name + ":" + member);
  }
  return arrays;
}

std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path) {
  const auto bytes = detail::read_file_bytes(path, "NPZ");
  return parse_npz(bytes.data(), bytes.size(), path.string());
}

}  // namespace dpforge::data
