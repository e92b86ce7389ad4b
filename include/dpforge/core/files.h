// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <filesystem>
#include <string_view>

namespace dpforge {

// Writes `contents` to `path` so that readers see either the old file or the complete new one:
// temp file in the same directory, fsync, rename. Throws InputError naming the path on failure
// and leaves no temp file behind.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace dpforge
