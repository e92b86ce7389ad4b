// SPDX-License-Identifier: Apache-2.0
// A program of its own that links the installed dpforge (find_package(dpforge)): its own model,
// its own tensors, DP-SGD at a target ε, then what the run spent and the white-box audit of that
// claim. Exit 0 when the audit passes, 3 when it flags the run.
#include <dpforge/audit/dirac_canaries.h>
#include <dpforge/core/random.h>
#include <dpforge/nn/layers.h>
#include <dpforge/train/run_audit.h>
#include <dpforge/train/trainer.h>
#include <fmt/format.h>
#include <torch/torch.h>

namespace {

// The project's own model: dpforge's DP layers (their per-example gradients are exact) with a
// parameter-free activation between them, in a torch::nn::Sequential.
torch::nn::Sequential make_classifier(int64_t features, int64_t hidden, int64_t classes) {
  return torch::nn::Sequential(dpforge::nn::Linear(features, hidden), torch::nn::Tanh(),
                               dpforge::nn::Linear(hidden, classes));
}

// Its own data: points whose class is the side of a plane they fall on.
dpforge::data::Dataset make_points(int64_t count, const torch::Tensor& plane) {
  const auto points = torch::randn({count, plane.size(0)});
  return {.inputs = points, .labels = points.matmul(plane).gt(0).to(torch::kLong),
          .num_classes = 2};
}

}  // namespace

int main() {
  using namespace dpforge;
  torch::manual_seed(11);
  const auto plane = torch::randn({12});
  const auto train_set = make_points(2000, plane);
  const auto test_set = make_points(500, plane);
  auto model = make_classifier(12, 16, 2);

  const double max_grad_norm = 1.0;
  const auto options =
      train::PrivateTrainingOptions()
          .train(train::TrainOptions().epochs(10).batch_size(100).lr(0.5))
          .privacy(train::PrivacyOptions().enabled(true).max_grad_norm(max_grad_norm).target_epsilon(2));
  const train::PrivateSeeds seeds{.sampler = secure_random_seed(),
                                  .noise = secure_random_seed(),
                                  .secure_noise = true,
                                  .sensitivity_check = secure_random_seed()};
  // The auditor's canaries ride along in the run; their membership is the auditor's secret.
  audit::DiracCanaries canaries(1000, secure_random_seed(), 10 * max_grad_norm);
  train::PrivacySummary privacy;
  const auto result = train::train_private(options, model, train_set, train::HeldOut{test_set},
                                           seeds, nullptr, privacy, &canaries);
  const auto audit = train::audit_private_run(canaries, privacy);

  fmt::print("custom_model: test accuracy {:.4f} after {} DP-SGD steps\n", result.test_accuracy,
             result.steps);
  fmt::print("privacy: ({:.4f}, {:g})-DP, sigma {:.4g}, q {:.4g}\n", privacy.epsilon,
             privacy.plan.delta, privacy.plan.noise_multiplier, privacy.plan.sample_rate);
  const std::string status = audit.summary.at("status");
  fmt::print("audit: {}\n", status);
  return status == "pass" ? 0 : 3;
}
