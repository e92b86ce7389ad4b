// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "dpforge/core/error.h"

namespace dpforge {
namespace {

constexpr std::string_view kSealMagic = "DPFSEAL1";
constexpr size_t kTrailerSize = 8 + 4 + kSealMagic.size();

uint32_t crc32_of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib's length is a uInt: feed large payloads in pieces.
  for (size_t at = 0; at < bytes.size();) {
    const size_t piece = std::min<size_t>(bytes.size() - at, 1U << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(piece));
    at += piece;
  }
  return static_cast<uint32_t>(crc);
}

template <typename T>
void append_le(std::string& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

template <typename T>
T read_le(const char* bytes) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    value |= static_cast<T>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  return value;
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view contents) {
  const std::filesystem::path temp = path.string() + ".partial";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(errno));
  }
  const char* data = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    throw_input_error("cannot write {}: {}", path.string(), std::strerror(saved));
  }
}

void write_sealed_file(const std::filesystem::path& path, std::string_view payload) {
  std::string sealed;
  sealed.reserve(payload.size() + kTrailerSize);
  sealed.append(payload);
  append_le<uint64_t>(sealed, payload.size());
  append_le<uint32_t>(sealed, crc32_of(payload));
  sealed.append(kSealMagic);
  write_file_atomic(path, sealed);
}

std::optional<std::string> read_sealed_file(const std::filesystem::path& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = fmt::format("cannot open {}: {}", path.string(), std::strerror(errno));
    return std::nullopt;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < kTrailerSize ||
      std::string_view(bytes).substr(bytes.size() - kSealMagic.size()) != kSealMagic) {
    why = fmt::format("{} is truncated or not a dpforge checkpoint (no trailer)", path.string());
    return std::nullopt;
  }
  const char* trailer = bytes.data() + bytes.size() - kTrailerSize;
  const uint64_t size = read_le<uint64_t>(trailer);
  const uint32_t crc = read_le<uint32_t>(trailer + 8);
  if (size != bytes.size() - kTrailerSize) {
    why = fmt::format("{} is torn: its trailer promises {} bytes, {} are there", path.string(),
                      size, bytes.size() - kTrailerSize);
    return std::nullopt;
  }
  bytes.resize(size);
  if (crc32_of(bytes) != crc) {
    why = fmt::format("{} is corrupt: checksum mismatch", path.string());
    return std::nullopt;
  }
  return bytes;
}

}  // namespace dpforge
