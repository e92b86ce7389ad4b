// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/faults.h"

#include <algorithm>
#include <limits>

namespace dpforge::audit {

dp::DpPlan faulty_plan(const dp::DpPlan& honest, Fault fault) {
  dp::DpPlan broken = honest;
  switch (fault) {
    case Fault::kNone:
      break;
    case Fault::kNoNoise:
      broken.noise_std = 0;
      break;
    case Fault::kHalfNoise:
      broken.noise_std = 0.5 * honest.noise_std;
      break;
    case Fault::kNoClip:
      // An infinite bound scales no example (flat factors min(1, ∞/‖g‖) = 1), while the noise keeps
      // the honest σC: exactly "clipping forgotten".
      broken.clip = dp::ClipOptions()
                        .max_grad_norm(std::numeric_limits<double>::infinity())
                        .mode(dp::ClipMode::kFlat);
      break;
    case Fault::kWrongSampleRate:
      broken.sample_rate = std::min(1.0, 2 * honest.sample_rate);
      break;
  }
  return broken;
}

}  // namespace dpforge::audit
