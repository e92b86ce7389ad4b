// SPDX-License-Identifier: Apache-2.0
// The heap allocator the executables run on. A training step allocates and frees the same large
// tensors (activations, output gradients, per-example gradients) every step. Two things matter:
//   - freed memory must stay in the process for the next step: returned to the OS, every large
//     tensor is a fresh mmap whose pages are faulted in and zeroed again (up to 40% of a DP-SGD
//     step on CPU);
//   - the heap must not fragment: glibc, told to keep freed memory, grew the resident size of a
//     token_block DP step to 2.7x its live tensors (1288 MiB for 483 MiB).
// jemalloc with decay off (src/core/jemalloc_conf.cpp, linked into each executable when
// libjemalloc-dev is present) gives both: resident within 1.1-1.3x of live tensors at glibc's
// best speed. Without jemalloc, glibc is told to keep freed memory (speed first).
#pragma once
#include <string>

namespace dpforge {

/// Call once at program start: configures glibc's malloc when it is the allocator in use.
void keep_freed_memory_for_reuse();

/// "jemalloc 5.3.0-0-g54eaed1d… (dirty_decay_ms -1, oversize_threshold 0)" or "glibc malloc":
/// which allocator this process runs on, found at run time (an LD_PRELOAD counts).
std::string heap_allocator();

}  // namespace dpforge
