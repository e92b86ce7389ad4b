// SPDX-License-Identifier: Apache-2.0
#include "dpforge/privacy/bounded_noise.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace dpforge::privacy {
namespace {

// The first kExactPairs shifts are summed term by term; the rest, each at most s/√kExactPairs, are
// bounded together by A(s/√kExactPairs) (A increases), loose by a few percent at most.
constexpr int64_t kExactPairs = 1 << 16;

// P[χ²₈ > x] = e^{−x/2} Σ_{k<4} (x/2)^k / k!.
double chi_square_8_tail(double x) {
  const double h = x / 2;
  return std::exp(-h) * (1 + h + h * h / 2 + h * h * h / 6);
}

// A(a): the probability that a pair shifted by a·C may leave the support (header comment).
double pair_escape(const NoiseSupport& support, double noise_multiplier, double shift) {
  const double inner = std::max(0.0, support.radius - shift / noise_multiplier);
  return support.summed ? chi_square_8_tail(inner * inner) : std::exp(-0.5 * inner * inner);
}

}  // namespace

double box_muller_radius() { return std::sqrt(128 * std::numbers::ln2); }

NoiseSupport sampler_support(bool secure) {
  // A hair inside the exact radius: a smaller disk only enlarges the annuli bounded below.
  const double radius = box_muller_radius() * (1 - 1e-6);
  return secure ? NoiseSupport{2 * radius, true} : NoiseSupport{radius, false};
}

double bounded_noise_step_delta(const NoiseSupport& support, const BoundedNoiseRun& run) {
  if (!(run.noise_multiplier > 0) || run.coordinates < 1 || !(run.sensitivity > 0)) {
    throw std::invalid_argument(
        "bounded_noise_step_delta: need sigma > 0, coordinates >= 1, sensitivity > 0");
  }
  const int64_t exact = std::min(run.coordinates, kExactPairs);
  double sum = 0;
  for (int64_t i = 1; i <= exact; ++i) {
    sum += pair_escape(support, run.noise_multiplier,
                       run.sensitivity / std::sqrt(static_cast<double>(i)));
  }
  if (run.coordinates > exact) {
    sum += static_cast<double>(run.coordinates - exact) *
           pair_escape(support, run.noise_multiplier,
                       run.sensitivity / std::sqrt(static_cast<double>(exact)));
  }
  return std::min(1.0, sum);
}

double bounded_noise_delta(const NoiseSupport& support, const BoundedNoiseRun& run) {
  return std::min(1.0, static_cast<double>(run.steps) * bounded_noise_step_delta(support, run));
}

}  // namespace dpforge::privacy
