// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as an NPZ archive, the zip layer included (local headers, the
// central directory, stored and deflated members, then each member's NPY header). Every member is
// read whole or the archive refused with an InputError; a deflated member may expand, but never
// past deflate's bound, and nothing reads out of bounds.
#include <cstddef>
#include <cstdint>

#include "dpforge/core/error.h"
#include "dpforge/data/npy.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(npz) {
  try {
    for (const auto& [name, array] : dpforge::data::parse_npz(data, size, "fuzz.npz")) {
      if (name.empty()) __builtin_trap();
      if (static_cast<size_t>(array.numel()) * array.element_size() > 1032 * size + 1024)
        __builtin_trap();
    }
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
