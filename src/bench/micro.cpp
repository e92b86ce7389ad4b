// SPDX-License-Identifier: Apache-2.0
#include "src/bench/micro.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "dpforge/dp/noise.h"
#include "dpforge/privacy/calibration.h"
#include "src/bench/workloads.h"

namespace dpforge::bench {

// Wall time of the accountant operations the issue sets targets for (median over repeats).
int bench_accountants(int repeats) {
  struct Case {
    const char* what;
    const char* target;
    std::function<double()> run;
  };
  const double q = 256.0 / 60000;
  const std::vector<Case> cases = {
      {"RDP epsilon, 1e5 steps", "< 1 ms",
       [&] { return privacy::epsilon_for(privacy::AccountantKind::kRdp, 1.1, q, 100000, 1e-5); }},
      {"PLD epsilon, 1e4 steps", "< 1 s",
       [&] { return privacy::epsilon_for(privacy::AccountantKind::kPld, 1.1, q, 10000, 1e-5); }},
      {"RDP calibration (eps 3, 7032 steps)", "< 100 ms",
       [&] {
         return privacy::calibrate_noise_multiplier(privacy::AccountantKind::kRdp, 3.0, 1e-5, q,
                                                    7032);
       }},
      {"PLD calibration (eps 3, 7032 steps)", "-",
       [&] {
         return privacy::calibrate_noise_multiplier(privacy::AccountantKind::kPld, 3.0, 1e-5, q,
                                                    7032);
       }},
  };
  fmt::print("{:<40} {:>12} {:>10} {:>12}\n", "operation", "median ms", "target", "value");
  for (const auto& c : cases) {
    double value = 0;
    const int runs = std::string(c.what).rfind("PLD", 0) == 0 ? std::min(repeats, 3) : repeats;
    const double ms = median_ms(
        runs, [&] { value = c.run(); }, /*warmup=*/1);
    fmt::print("{:<40} {:>12.3f} {:>10} {:>12.6f}\n", c.what, ms, c.target, value);
  }
  return 0;
}

// Noise generation: plain vs secure stream (issue: cost of secure mode), against a copy of the
// same buffer as the memory-bandwidth reference (on a GPU: the kernel's share of copy bandwidth).
int bench_noise(int repeats, const torch::Device& device) {
  const auto finish = [&] {
    if (device.is_cuda()) torch::cuda::synchronize(device.index());
  };
  fmt::print("{:<14} {:>10} {:>10} {:>10} {:>13} {:>12} {:>14}\n", "values", "copy ms", "plain ms",
             "secure ms", "secure/plain", "copy GB/s", "plain/copy bw");
  for (const int64_t count :
       {int64_t{26010}, int64_t{1} << 20, int64_t{10} << 20, int64_t{100} << 20}) {
    if (device.is_cpu() && count > (int64_t{10} << 20)) continue;
    auto values = torch::zeros({count}, torch::TensorOptions().device(device));
    torch::Tensor copy_target = torch::empty_like(values);
    const double copy_ms = median_ms(repeats, [&] {
      copy_target.copy_(values);
      finish();
    });
    const double plain_ms = median_ms(repeats, [&] {
      dp::add_noise_and_scale_(values, 1.0, 1.0, 7, 0, false);
      finish();
    });
    const double secure_ms = median_ms(repeats, [&] {
      dp::add_noise_and_scale_(values, 1.0, 1.0, 7, 0, true);
      finish();
    });
    // Both read and write every value once: 8 bytes per float.
    const double copy_gbs = 8.0 * static_cast<double>(count) / (copy_ms * 1e6);
    fmt::print("{:<14} {:>10.3f} {:>10.3f} {:>10.3f} {:>13.2f} {:>12.1f} {:>13.0f}%\n", count,
               copy_ms, plain_ms, secure_ms, secure_ms / plain_ms, copy_gbs,
               100.0 * copy_ms / plain_ms);
  }
  return 0;
}

}  // namespace dpforge::bench
