// SPDX-License-Identifier: Apache-2.0
// dpforge_bench: median step time of non-private vs DP-SGD training, per model and batch size.
// A benchmark, not a test: run it on a quiet machine and read the table.
//   dpforge_bench [--models mlp,cnn_tanh] [--batches 256,1024] [--repeats 20] [--clipping flat]
#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "dpforge/core/allocator.h"
#include "dpforge/dp/dp_optimizer.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/models.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"

namespace po = boost::program_options;
using namespace dpforge;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) parts.push_back(item);
  return parts;
}

template <typename Step>
double median_ms(int repeats, Step&& step, int warmup = 3) {
  for (int i = 0; i < warmup; ++i) step();  // warm-up: allocator, caches, thread pool
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Wall time of the accountant operations the issue sets targets for (median over repeats).
int bench_accountants(int repeats) {
  struct Case {
    const char* what;
    const char* target;
    std::function<double()> run;
  };
  const double q = 256.0 / 60000;
  const std::vector<Case> cases = {
      {"RDP epsilon, 1e5 steps", "< 1 ms", [&] { return privacy::epsilon_for("rdp", 1.1, q, 100000, 1e-5); }},
      {"PLD epsilon, 1e4 steps", "< 1 s", [&] { return privacy::epsilon_for("pld", 1.1, q, 10000, 1e-5); }},
      {"RDP calibration (eps 3, 7032 steps)", "< 100 ms",
       [&] { return privacy::calibrate_noise_multiplier("rdp", 3.0, 1e-5, q, 7032); }},
      {"PLD calibration (eps 3, 7032 steps)", "-",
       [&] { return privacy::calibrate_noise_multiplier("pld", 3.0, 1e-5, q, 7032); }},
  };
  fmt::print("{:<40} {:>12} {:>10} {:>12}\n", "operation", "median ms", "target", "value");
  for (const auto& c : cases) {
    double value = 0;
    const int runs = std::string(c.what).rfind("PLD", 0) == 0 ? std::min(repeats, 3) : repeats;
    const double ms = median_ms(runs, [&] { value = c.run(); }, /*warmup=*/1);
    fmt::print("{:<40} {:>12.3f} {:>10} {:>12.6f}\n", c.what, ms, c.target, value);
  }
  return 0;
}

// Noise generation: plain vs secure stream (issue: cost of secure mode), against a copy of the
// same buffer as the memory-bandwidth reference.
int bench_noise(int repeats) {
  fmt::print("{:<14} {:>12} {:>12} {:>12} {:>14}\n", "values", "copy ms", "plain ms", "secure ms", "secure/plain");
  for (const int64_t count : {int64_t{26010}, int64_t{1} << 20, int64_t{10} << 20}) {
    auto values = torch::zeros({count});
    torch::Tensor copy_target = torch::empty_like(values);
    const double copy_ms = median_ms(repeats, [&] { copy_target.copy_(values); });
    const double plain_ms = median_ms(repeats, [&] { dp::add_noise_and_scale_cpu(values, 1.0, 1.0, 7, 0, false); });
    const double secure_ms = median_ms(repeats, [&] { dp::add_noise_and_scale_cpu(values, 1.0, 1.0, 7, 0, true); });
    fmt::print("{:<14} {:>12.3f} {:>12.3f} {:>12.3f} {:>14.2f}\n", count, copy_ms, plain_ms, secure_ms,
               secure_ms / plain_ms);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dpforge::keep_freed_memory_for_reuse();
  po::options_description options("dpforge_bench");
  options.add_options()("help,h", "show this help")(
      "models", po::value<std::string>()->default_value("mlp,cnn_tanh"), "comma-separated model.arch values")(
      "batches", po::value<std::string>()->default_value("256,1024"), "comma-separated batch sizes")(
      "repeats", po::value<int>()->default_value(20), "timed steps per cell (median reported)")(
      "clipping", po::value<std::string>()->default_value("flat,per_layer,automatic"), "clipping modes")(
      "threads", po::value<int>()->default_value(0), "LibTorch threads; 0 = all cores")(
      "breakdown", "also time the parts of a DP step (forward+backward to outputs, clip+sum, noise+step)")(
      "accountants", "time the accountants instead (RDP 1e5 steps, PLD 1e4 steps, calibration)")(
      "noise", "time the noise generator instead: plain vs secure stream vs a copy, per buffer size")(
      "json", "print one JSON object instead of the table");
  po::variables_map values;
  po::store(po::parse_command_line(argc, argv, options), values);
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return 0;
  }
  if (values["threads"].as<int>() > 0) torch::set_num_threads(values["threads"].as<int>());
  if (values.count("accountants") != 0U) return bench_accountants(values["repeats"].as<int>());
  if (values.count("noise") != 0U) return bench_noise(values["repeats"].as<int>());
  const int repeats = values["repeats"].as<int>();
  const auto modes = split(values["clipping"].as<std::string>());

  auto rows = nlohmann::json::array();
  if (values.count("json") == 0U) {
    fmt::print("{:<10} {:>6} {:>14} {:>12} {:>14} {:>8}\n", "model", "batch", "non-private ms",
               "clipping", "DP-SGD ms", "ratio");
  }
  for (const auto& arch : split(values["models"].as<std::string>())) {
    for (const auto& batch_text : split(values["batches"].as<std::string>())) {
      const int64_t batch = std::stoll(batch_text);
      torch::manual_seed(0);
      config::ModelOptions model_options;
      auto model = nn::make_model(model_options.arch(arch));
      const auto images = torch::rand({batch, 1, 28, 28});
      const auto labels = torch::randint(10, {batch}, torch::kLong);
      config::TrainOptions train_options;
      train_options.lr(1e-3);

      auto plain = train::make_optimizer(train_options, model->parameters());
      const double nonprivate = median_ms(repeats, [&] {
        plain->zero_grad();
        train::backward_nonprivate(model, images, labels, static_cast<double>(batch));
        plain->step();
      });
      for (auto& parameter : model->parameters()) parameter.mutable_grad() = torch::Tensor();

      for (const auto& mode : modes) {
        privacy::RdpAccountant accountant;
        dp::DpOptimizer optimizer(
            model->parameters(), train::make_optimizer(train_options, model->parameters()),
            dp::DpOptimizerOptions()
                .clip(dp::ClipOptions().max_grad_norm(1.0).mode(dp::parse_clip_mode(mode)))
                .noise_multiplier(1.0)
                .sample_rate(0.01)
                .expected_batch_size(static_cast<double>(batch)),
            dp::NoiseGenerator(1), accountant);
        const double dp_ms = median_ms(repeats, [&] {
          train::accumulate_private(model, optimizer, images, labels);
          optimizer.step();
        });
        if (values.count("breakdown") != 0U) {
          dp::GradTape tape;
          std::vector<torch::Tensor> grads;
          const double backward_ms = median_ms(repeats, [&] {
            tape.clear();
            dp::TapeGuard guard(tape);
            const auto losses = torch::nn::functional::cross_entropy(
                model->forward(images), labels,
                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
            grads = torch::autograd::grad({losses.sum()}, tape.outputs(), {}, false, false, true);
          });
          const double clip_ms = median_ms(repeats, [&] {
            torch::NoGradGuard no_grad;
            dp::clip_and_sum(tape.records(), grads, optimizer.options().clip());
          });
          const double step_ms = median_ms(repeats, [&] { optimizer.step(); });
          for (size_t l = 0; l < tape.records().size(); ++l) {
            torch::NoGradGuard no_grad;
            std::optional<dp::PerSampleLayer> layer;
            const double prepare_ms = median_ms(repeats, [&] { layer.emplace(tape.records()[l], grads[l]); });
            const double norms_ms = median_ms(repeats, [&] { layer->squared_norms(); });
            const auto factors = torch::ones({batch});
            const double sums_ms = median_ms(repeats, [&] { layer->clipped_sums(factors); });
            fmt::print("    layer {} ({}): prepare {:.2f} ms, norms {:.2f} ms, clipped sums {:.2f} ms\n", l,
                       layer->uses_ghost_norm() ? "ghost" : "direct", prepare_ms, norms_ms, sums_ms);
          }
          fmt::print("{:<10} {:>6}   breakdown ({}): forward+backward-to-outputs {:.2f} ms, clip+sum {:.2f} ms, "
                     "noise+step {:.2f} ms\n", arch, batch, mode, backward_ms, clip_ms, step_ms);
        }
        const double ratio = dp_ms / nonprivate;
        rows.push_back({{"model", arch}, {"batch", batch}, {"nonprivate_ms", nonprivate},
                        {"clipping", mode}, {"dp_ms", dp_ms}, {"ratio", ratio}});
        if (values.count("json") == 0U) {
          fmt::print("{:<10} {:>6} {:>14.2f} {:>12} {:>14.2f} {:>7.2f}x\n", arch, batch, nonprivate,
                     mode, dp_ms, ratio);
        }
      }
    }
  }
  if (values.count("json") != 0U) {
    fmt::print("{}\n", nlohmann::json{{"threads", torch::get_num_threads()}, {"rows", rows}}.dump());
  }
  return 0;
}
