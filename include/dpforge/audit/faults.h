// SPDX-License-Identifier: Apache-2.0
// Deliberately broken DP-SGD runs, for validating the auditor: each fault breaks one privacy
// invariant while the accountant and the auditor are still told the honest claim. A run with a
// fault is never reported as private. Production types carry no fault knobs: a fault is applied
// by building a broken plan here (faulty_plan, with the DP plan), never by a flag in the mechanism.
#pragma once
#include <string>

#include "dpforge/core/enum_names.h"
#include "dpforge/dp/plan.h"

namespace dpforge::audit {

enum class Fault {
  kNone,
  kNoNoise,          // the noise is left out
  kHalfNoise,        // half the claimed noise std
  kNoClip,           // per-example gradients are summed unclipped
  kWrongSampleRate,  // examples are sampled at twice the claimed rate
};
inline constexpr EnumNames<Fault, 5> kFaultNames{
    {{{Fault::kNone, "none"},
      {Fault::kNoNoise, "no_noise"},
      {Fault::kHalfNoise, "half_noise"},
      {Fault::kNoClip, "no_clip"},
      {Fault::kWrongSampleRate, "wrong_sample_rate"}}}};
inline std::string to_string(Fault fault) { return std::string(kFaultNames.name(fault)); }

/// The plan a run with `fault` executes: `honest` with one invariant broken. The accountant and the
/// auditor keep observing against `honest` (their hooks are built from it), which is exactly the
/// disagreement the audit must detect. kNone returns `honest` unchanged.
dp::DpPlan faulty_plan(const dp::DpPlan& honest, Fault fault);

}  // namespace dpforge::audit
