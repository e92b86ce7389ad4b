// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as a decompressed IDX file of rank 1 and of rank 3. The parser must
// accept it (and then account for every byte) or refuse it with an InputError; never crash, read
// out of bounds or allocate what the header merely claims.
#include <cstddef>
#include <cstdint>

#include "dpforge/core/error.h"
#include "dpforge/data/fashion_mnist.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(idx) {
  for (uint8_t rank : {uint8_t{1}, uint8_t{3}}) {
    try {
      const auto idx = dpforge::data::parse_idx(data, size, rank, "fuzz.idx");
      size_t total = 1;
      for (int64_t dim : idx.dims) total *= static_cast<size_t>(dim);
      if (idx.dims.size() != rank || idx.bytes.size() != total || 4 + 4 * rank + total != size)
        __builtin_trap();
    } catch (const dpforge::InputError&) {
    }
  }
  return 0;
}
