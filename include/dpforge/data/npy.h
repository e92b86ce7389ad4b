// SPDX-License-Identifier: Apache-2.0
// NumPy's .npy and .npz files, read per the format spec
// (numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic "\x93NUMPY", a
// version (1.0, 2.0 or 3.0), a little-endian header length, and an ASCII header that is a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, F), } padded with spaces,
// then the raw C-order data. An .npz is a zip archive of .npy members (np.savez stores them,
// np.savez_compressed deflates them).
//
// Accepted: bool, uint8, int8, int16, int32, int64, float32, float64, little-endian (or
// byte-sized), C order, any shape. Refused, with the file and header field named: Fortran order,
// object or structured dtypes (pickles are never unpickled), big-endian data, a payload shorter or
// longer than the shape says, a malformed header.
//
// Example:
//   const auto arrays = data::read_npz("digits.npz");   // {"x": uint8 tensor, "y": int64 tensor}
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace dpforge::data {

/// One .npy array as a tensor of its own dtype (bool: kBool, each byte checked to be 0 or 1).
torch::Tensor read_npy(const std::filesystem::path& path);

/// Every member of an .npz archive, by name without ".npy".
std::map<std::string, torch::Tensor> read_npz(const std::filesystem::path& path);

/// The .npy parser behind both, on bytes in memory; `name` names the source in messages
/// (exposed for the fuzzer and the tests).
torch::Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name);

/// The zip reader behind read_npz, on the archive's bytes in memory.
std::map<std::string, torch::Tensor> parse_npz(const uint8_t* data, size_t size,
                                               const std::string& name);

}  // namespace dpforge::data
