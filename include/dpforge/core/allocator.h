// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace dpforge {

// Keeps freed heap memory in the process for the next step instead of returning it to the OS.
// A training step allocates and frees the same large tensors (activations, unfolded inputs,
// per-example gradients) every time; with glibc's defaults each one above the dynamic mmap
// threshold is a fresh mmap whose pages are faulted in and zeroed again, which cost DP-SGD
// steps (they allocate more) up to 40% on CPU. Call once at program start; a no-op off glibc.
// Peak memory is unchanged; the resident size just no longer shrinks between steps.
void keep_freed_memory_for_reuse();

}  // namespace dpforge
