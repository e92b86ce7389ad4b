// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as an .npy file and as an .npz archive. The parsers must return
// tensors whose bytes the input accounts for, or refuse it with an InputError; never crash, read
// out of bounds, unpickle or allocate what a header merely claims.
#include <cstddef>
#include <cstdint>

#include "dpforge/core/error.h"
#include "dpforge/data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto array = dpforge::data::parse_npy(data, size, "fuzz.npy");
    if (static_cast<size_t>(array.numel()) * array.element_size() > size) __builtin_trap();
  } catch (const dpforge::InputError&) {
  }
  try {
    for (const auto& [name, array] : dpforge::data::parse_npz(data, size, "fuzz.npz")) {
      (void)name;
      // A deflated member may expand, but never past deflate's bound.
      if (static_cast<size_t>(array.numel()) * array.element_size() > 1032 * size + 1024)
        __builtin_trap();
    }
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
