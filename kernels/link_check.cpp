// SPDX-License-Identifier: Apache-2.0
// Links every kernel entry point against the CUDA runtime, so that a machine without a GPU (CI)
// still proves the kernels link, not only compile. Running it launches nothing.
#include <cstdio>

#include "kernels/kernels.h"

int main() {
  using namespace dpforge::kernels;
  const void* entries[] = {reinterpret_cast<const void*>(&add_noise_and_scale_many_f32),
                           reinterpret_cast<const void*>(&row_squared_norms_f32),
                           reinterpret_cast<const void*>(&weighted_row_sum_f32),
                           reinterpret_cast<const void*>(&scale_rows_f32),
                           reinterpret_cast<const void*>(&ghost_norms_f32),
                           reinterpret_cast<const void*>(&clip_factors_f32),
                           reinterpret_cast<const void*>(&error_string)};
  std::printf("%zu dpforge CUDA kernel entry points linked\n", sizeof entries / sizeof entries[0]);
  return 0;
}
