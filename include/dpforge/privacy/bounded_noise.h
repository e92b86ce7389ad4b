// SPDX-License-Identifier: Apache-2.0
// The δ a bounded noise sampler adds to the Gaussian the accountant assumes (docs/privacy.md,
// "The noise's support"; docs/design.md).
//
// dpforge's normals come in Box–Muller pairs (kernels/philox.h) whose radius is drawn from 64
// random bits, so every pair lies in the closed disk of radius R = √(128 ln 2) = 9.42 (inside it
// the density is the Gaussian's; the mass e^{−R²/2} of the Gaussian beyond it sits on the circle).
// Secure noise halves the sum of four such pairs: the disk of radius 2R. Neighbouring datasets
// shift a step's noised sum by a vector v with ‖v‖ ≤ s·C (s = 1 add/remove, 2 replace-one): an
// output is possible under one and impossible under the other only where some pair of noise
// coordinates lies within |v_p|/(σC) of its disk's edge. With A(a) that probability for a pair
// shifted by a·C, and the shifts' i-th largest at most s/√i (Σ|v_p|² ≤ s²C²),
//   S = Σ_{i=1}^{P} A(s/√i)   bounds it per step over P pairs, and   δ_support = min(1, T·S)
// is added to the Gaussian's δ over T steps (each step adds at most its S to the hockey-stick
// divergence; a union bound over the steps). Plain: A(a) = e^{−(R − a/σ)₊²/2} (the annulus and the
// circle's mass). Secure: the four pairs' sum leaves the disk of radius 2R − a/σ only if their
// norms' sum of squares exceeds (2R − a/σ)², so A(a) ≤ P[χ²₈ > (2R − a/σ)₊²]. The sampler's
// float granularity is not modelled here; secure noise is what addresses it.
//
// Example:
//   const double extra = privacy::bounded_noise_delta(privacy::sampler_support(/*secure=*/true),
//                                                     {.noise_multiplier = 0.8,
//                                                      .steps = 10000,
//                                                      .coordinates = 1'000'000});
#pragma once
#include <cstdint>

namespace dpforge::privacy {

/// Where the sampler's normals can land.
struct NoiseSupport {
  double radius = 0;    // every pair (z₂ₖ, z₂ₖ₊₁) lies in the disk of this radius
  bool summed = false;  // secure: the halved sum of four plain pairs
};

/// √(−2 ln 2⁻⁶⁴): the largest radius Box–Muller reaches with a 64-bit uniform (kernels/philox.h).
double box_muller_radius();

/// The support of the plain (secure = false) or secure sampler.
NoiseSupport sampler_support(bool secure);

struct BoundedNoiseRun {
  double noise_multiplier = 0;  // σ: the noise std is σ·C
  int64_t steps = 0;            // T
  int64_t coordinates = 0;      // numbers noised per step (parameters and canaries)
  double sensitivity = 1;       // ‖v‖/C between neighbours: 1 add/remove, 2 replace-one
};

/// S of the header comment: the per-step probability bound.
double bounded_noise_step_delta(const NoiseSupport& support, const BoundedNoiseRun& run);

/// min(1, T·S): what the bounded support adds to the run's δ.
double bounded_noise_delta(const NoiseSupport& support, const BoundedNoiseRun& run);

}  // namespace dpforge::privacy
