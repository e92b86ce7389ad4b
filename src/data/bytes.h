// SPDX-License-Identifier: Apache-2.0
// Byte-level helpers shared by the NPY and NPZ readers; not a public header.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

namespace dpforge::data::detail {

inline constexpr const char* kSaveHint =
    "save plain numeric arrays from Python with np.save / np.savez (allow_pickle=False), after "
    "np.ascontiguousarray(x)";

inline uint32_t little(const uint8_t* bytes, int count) {
  uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

inline uint64_t little64(const uint8_t* bytes) {
  return uint64_t{little(bytes, 4)} | (uint64_t{little(bytes + 4, 4)} << 32);
}

/// The whole file; InputError naming `what` (NPY, NPZ) when it is missing or unreadable.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path, const char* what);

}  // namespace dpforge::data::detail
