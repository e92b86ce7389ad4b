// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace dpforge {

// Writes `contents` to `path` so that readers see either the old file or the complete new one:
// temp file in the same directory, fsync, rename. Throws InputError naming the path on failure
// and leaves no temp file behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// A sealed file is `payload` followed by a 20-byte trailer: payload size (8 bytes), CRC-32 of the
// payload (4 bytes) and the magic "DPFSEAL1". A torn write (crash mid-write, full disk) or a
// flipped bit fails the check on reading, so a corrupt checkpoint is never mistaken for a good one.
// Written with write_file_atomic.
void write_sealed_file(const std::filesystem::path& path, std::string_view payload);

// The payload of a sealed file, or nullopt with `why` saying what is wrong (missing, truncated,
// checksum mismatch).
std::optional<std::string> read_sealed_file(const std::filesystem::path& path, std::string& why);

}  // namespace dpforge
