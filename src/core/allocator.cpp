// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/allocator.h"

#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dpforge {
namespace {

using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);

// jemalloc's control interface when jemalloc is this process's malloc (linked or preloaded).
Mallctl jemalloc_mallctl() { return reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl")); }

template <typename T>
bool read_mallctl(Mallctl mallctl, const char* name, T& value) {
  size_t size = sizeof(T);
  return mallctl(name, &value, &size, nullptr, 0) == 0;
}

}  // namespace

void keep_freed_memory_for_reuse() {
  if (jemalloc_mallctl() != nullptr) return;  // configured by malloc_conf (jemalloc_conf.cpp)
#if defined(__GLIBC__)
  // Setting these fixes them (glibc otherwise adapts the mmap threshold up to only 32 MiB).
  constexpr int kNeverMmap = 1 << 30;  // allocations up to 1 GiB come from the heap
  mallopt(M_MMAP_THRESHOLD, kNeverMmap);
  mallopt(M_TRIM_THRESHOLD, kNeverMmap);  // keep up to 1 GiB of freed top-of-heap memory
  mallopt(M_TOP_PAD, 64 << 20);           // grow the heap in 64 MiB steps
#endif
}

std::string heap_allocator() {
  const Mallctl mallctl = jemalloc_mallctl();
  if (mallctl == nullptr) return "glibc malloc";
  const char* version = nullptr;
  ssize_t dirty_decay_ms = 0;
  size_t oversize_threshold = 0;
  std::string name = "jemalloc";
  if (read_mallctl(mallctl, "version", version) && version != nullptr)
    name += std::string(" ") + version;
  if (read_mallctl(mallctl, "opt.dirty_decay_ms", dirty_decay_ms) &&
      read_mallctl(mallctl, "opt.oversize_threshold", oversize_threshold)) {
    name += " (dirty_decay_ms " + std::to_string(dirty_decay_ms) + ", oversize_threshold " +
            std::to_string(oversize_threshold) + ")";
  }
  return name;
}

}  // namespace dpforge
