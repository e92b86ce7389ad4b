// SPDX-License-Identifier: Apache-2.0
#include "audit/planted_faults.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "dpforge/audit/canary_hook.h"
#include "dpforge/audit/white_box.h"
#include "dpforge/core/random.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/nn/models.h"
#include "dpforge/train/dp_plan.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/options.h"
#include "dpforge/train/steps.h"

namespace dpforge::testing {

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

namespace {

constexpr int64_t kExamples = 2000, kFeatures = 16, kClasses = 4, kCanaries = 2000;
constexpr double kCanaryPreClipMultiple = 10.0;  // as a run's canaries (run/run.cpp)

data::Dataset learnable_table(uint64_t seed) {
  torch::manual_seed(seed);
  data::Dataset set;
  set.inputs = torch::randn({kExamples, kFeatures});
  set.labels = set.inputs.slice(1, 0, kClasses).argmax(1);
  set.num_classes = kClasses;
  return set;
}

}  // namespace

nlohmann::json white_box_verdict_of_a_planted_run(Fault fault, uint64_t seed) {
  const auto train_set = learnable_table(seed);
  const auto train = train::TrainOptions().epochs(4).batch_size(100).lr(0.5).seed(seed);
  const auto privacy =
      train::PrivacyOptions().enabled(true).max_grad_norm(1.0).target_epsilon(2.0).accountant(
          privacy::AccountantKind::kRdp);
  auto model = nn::make_model(nn::ModelOptions().arch(nn::Arch::kMlp).mlp_hidden(8), train_set,
                              derive_seed(seed, 1));
  const dp::DpPlan claimed = train::make_dp_plan(train, privacy,
                                                 {.dataset_size = kExamples,
                                                  .planning_size = kExamples,
                                                  .parameters = nn::count_parameters(*model),
                                                  .canaries = kCanaries});
  const dp::DpPlan executed = faulty_plan(claimed, fault);

  audit::DiracCanaries canaries(kCanaries, derive_seed(seed, 2),
                                kCanaryPreClipMultiple * claimed.clip.max_grad_norm());
  audit::CanaryHook canary_hook(canaries, claimed, torch::kCPU);
  auto accountant = train::plan_accountants(claimed)();
  dp::AccountantHook accounting(*accountant, claimed);
  std::vector<dp::StepHook*> hooks{&accounting, &canary_hook};
  auto optimizer = train::make_optimizer(train, model->parameters());
  dp::DpSgdState state{
      data::PoissonSampler(executed.dataset_size + static_cast<int64_t>(canaries.members().size()),
                           executed.sample_rate, derive_seed(seed, 3)),
      dp::NoiseGenerator(derive_seed(seed, 4))};
  dp::DpSgdTarget target{model, *optimizer, train_set, train::task_loss(train_set.task, train)};
  for (int64_t step = 0; step < claimed.planned_steps; ++step)
    dp::dp_sgd_step(executed, state, target, hooks);

  const double significance = audit::per_test_significance(4);
  return audit::audit_white_box(
             canaries,
             {accountant->epsilon(claimed.delta), claimed.delta,
              claimed.dp_event(accountant->steps()), accountant->history(), 0.95, true,
              significance, audit::gate_point(claimed.delta, kCanaries, significance, *accountant)})
      .summary;
}

}  // namespace dpforge::testing
