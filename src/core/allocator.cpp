// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dpforge {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  // Setting these fixes them (glibc otherwise adapts the mmap threshold up to only 32 MiB).
  constexpr int kNeverMmap = 1 << 30;  // allocations up to 1 GiB come from the heap
  mallopt(M_MMAP_THRESHOLD, kNeverMmap);
  mallopt(M_TRIM_THRESHOLD, kNeverMmap);  // keep up to 1 GiB of freed top-of-heap memory
  mallopt(M_TOP_PAD, 64 << 20);           // grow the heap in 64 MiB steps
#endif
}

}  // namespace dpforge
