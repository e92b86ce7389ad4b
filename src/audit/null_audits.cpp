// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/null_audits.h"

#include <torch/torch.h>

#include <algorithm>

#include "dpforge/audit/dirac_canaries.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/privacy/calibration.h"

namespace dpforge::audit {
namespace {

// Dirac canaries are 10·C before clipping in real runs; clipped, each contributes C.
constexpr double kPreClipNorm = 10.0;

// One faithful run's canary observations (C = 1, expected batch size 1), drawn from `generator`.
void observe_faithful_run(DiracCanaries& canaries, const NullAuditSetting& s,
                          at::Generator& generator) {
  torch::NoGradGuard no_grad;
  const auto members = torch::zeros({canaries.count()}, torch::kFloat32);
  for (int64_t id : canaries.members()) members[id] = 1.0f;
  for (int64_t t = 0; t < s.steps; ++t) {
    const auto sampled =
        torch::rand({canaries.count()}, generator).lt(s.sample_rate).to(torch::kFloat32);
    const auto update =
        members * sampled + s.noise_multiplier * torch::randn({canaries.count()}, generator);
    canaries.observe(update, s.noise_multiplier, s.sample_rate, 1.0, 1.0);
  }
}

}  // namespace

NullAuditRate simulate_null_audits(const NullAuditSetting& setting, int64_t audits, uint64_t seed) {
  NullAuditRate rate;
  rate.audits = audits;
  const privacy::SgmSteps mechanism{setting.noise_multiplier, setting.sample_rate, setting.steps};
  const auto accountant = privacy::accountant_factory(privacy::AccountantKind::kPld)();
  accountant->compose(mechanism);
  rate.claimed_epsilon = accountant->epsilon(setting.delta);
  const double significance = per_test_significance(4);
  rate.gate = gate_point(setting.delta, setting.canaries, significance, *accountant);
  const WhiteBoxClaim claim{rate.claimed_epsilon,  setting.delta, mechanism,
                            accountant->history(), 0.95,          true,
                            significance,          rate.gate};
  for (int64_t i = 0; i < audits; ++i) {
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed + static_cast<uint64_t>(i));
    DiracCanaries canaries(setting.canaries, seed ^ (0x5DEECE66DULL + static_cast<uint64_t>(i)),
                           kPreClipNorm);
    observe_faithful_run(canaries, setting, generator);
    const auto audit = audit_white_box(canaries, claim);
    if (audit.summary["status"] == "violation") ++rate.flagged;
    rate.largest_lower_bound =
        std::max(rate.largest_lower_bound, audit.summary["epsilon_lower_bound_best"].get<double>());
  }
  return rate;
}

}  // namespace dpforge::audit
