// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as an .npy file (NPZ archives: npz_fuzzer). The parser must return
// tensors whose bytes the input accounts for, or refuse it with an InputError; never crash, read
// out of bounds, unpickle or allocate what a header merely claims.
#include <cstddef>
#include <cstdint>

#include "dpforge/core/error.h"
#include "dpforge/data/npy.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(npy) {
  try {
    const auto array = dpforge::data::parse_npy(data, size, "fuzz.npy");
    if (static_cast<size_t>(array.numel()) * array.element_size() > size) __builtin_trap();
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
