// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace dpforge::dp {

/// Whether this build has dpforge's CUDA kernels and the bridge that launches them (a CUDA
/// LibTorch and nvcc at build time); the GPU itself may still be absent.
bool cuda_kernels_available();

}  // namespace dpforge::dp
