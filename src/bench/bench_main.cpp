// SPDX-License-Identifier: Apache-2.0
// dpforge_bench: median step time and peak memory of non-private vs DP-SGD training, per model and
// batch size. A benchmark, not a test: run it on a quiet machine and read the table
// (scripts/bench_vs_opacus.py runs it next to Opacus and plain PyTorch).
//   dpforge_bench [--models mlp,cnn_tanh,wrn16_4,token_block] [--batches 256,1024] [--repeats 20]
//                 [--variants nonprivate,flat,per_layer,automatic,sensitivity_check,last_layer]
//                 [--secure-noise] [--json]
#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "dpforge/core/allocator.h"
#include "dpforge/core/tensor_memory_meter.h"
#include "dpforge/core/text.h"
#include "dpforge/dp/dp_sgd.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/layers.h"
#include "dpforge/nn/models.h"
#include "dpforge/privacy/accountant.h"
#include "dpforge/privacy/calibration.h"
#include "dpforge/train/optimizer.h"
#include "dpforge/train/steps.h"
#include "src/bench/micro.h"
#include "src/bench/workloads.h"
#include "src/dp/device_ops.h"

namespace po = boost::program_options;
using namespace dpforge;

namespace {

using namespace bench;  // NOLINT: the workloads are this program's own vocabulary

// Resident set size now, and the process's peak so far, in MiB. Peak memory of a variant is
// measured in a process that runs only that variant (--variants NAME): peak minus the resident
// size before its first step is what training itself added.
double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1 << 20);
}

// VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the parent process
// (a Python driver with torch loaded would set this process's "peak").
double peak_resident_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0.0;
}

// Where a DP step's CPU tensor peak occurs: the most memory live in each phase, beyond what was
// live before the step (the order of dp::clip_and_accumulate, then the noise and the step).
void print_memory_by_phase(const std::string& arch, int64_t batch, Workload& work,
                           DpStepper& optimizer, TensorMemoryMeter& meter) {
  const int64_t before = meter.live_bytes();
  meter.reset_peak();
  const auto phase_peak_mib = [&] {
    const double mib = static_cast<double>(meter.peak_bytes() - before) / (1 << 20);
    meter.reset_peak();
    return mib;
  };
  dp::GradTape tape;
  const auto losses = dp_forward_losses(work, tape);
  const double forward = phase_peak_mib();
  auto layers = dp::per_sample_layers(tape, losses.sum());
  const double backward = phase_peak_mib();
  optimizer.accumulate(work, std::move(layers));
  const double clip = phase_peak_mib();
  optimizer.finish(work);
  const double step = phase_peak_mib();
  fmt::print(
      "{:<12} {:>6}   tensor peak by phase (MiB): forward {:.1f}, backward {:.1f}, clip+sum "
      "{:.1f}, "
      "noise+step {:.1f}\n",
      arch, batch, forward, backward, clip, step);
}

void print_breakdown(const std::string& arch, int64_t batch, Workload& work, DpStepper& optimizer,
                     int repeats) {
  dp::GradTape tape;
  std::vector<torch::Tensor> grads;
  const double backward_ms = median_ms(repeats, [&] {
    tape.clear();
    grads = tape.output_gradients(dp_forward_losses(work, tape).sum());
  });
  const double clip_ms = median_ms(repeats, [&] {
    torch::NoGradGuard no_grad;
    dp::clip_and_sum(tape.records(), grads, optimizer.plan.clip);
  });
  const double step_ms = median_ms(repeats, [&] { optimizer.finish(work); });
  for (size_t l = 0; l < tape.records().size(); ++l) {
    torch::NoGradGuard no_grad;
    std::optional<dp::PerSampleLayer> layer;
    const double prepare_ms =
        median_ms(repeats, [&] { layer.emplace(tape.records()[l], grads[l]); });
    const double norms_ms = median_ms(repeats, [&] { layer->squared_norms(); });
    const auto factors = torch::ones({batch});
    const double sums_ms = median_ms(repeats, [&] { layer->clipped_sums(factors); });
    fmt::print("    layer {} ({}): prepare {:.2f} ms, norms {:.2f} ms, clipped sums {:.2f} ms\n", l,
               dp::to_string(layer->method()), prepare_ms, norms_ms, sums_ms);
  }
  fmt::print(
      "{:<12} {:>6}   breakdown ({}): forward+backward-to-outputs {:.2f} ms, clip+sum {:.2f} ms, "
      "noise+step {:.2f} ms\n",
      arch, batch, to_string(optimizer.plan.clip.mode()), backward_ms, clip_ms, step_ms);
}

// How each Linear/Conv2d layer's norm is computed: "1" T = 1 (‖a‖²‖g‖²), else by the mixed rule
// "g" ghost or "m" materialized.
std::string norm_methods(Workload& work) {
  dp::GradTape tape;
  dp_forward_losses(work, tape);  // only the records are read
  std::string methods;
  for (const auto& record : tape.records()) {
    if (record.kind != dp::LayerKind::kLinear && record.kind != dp::LayerKind::kConv2d) continue;
    if (record.kind == dp::LayerKind::kLinear && record.input.dim() == 2) {
      methods += '1';
      continue;
    }
    methods +=
        dp::PerSampleLayer(record, dp::zero_output_gradient(record)).uses_ghost_norm() ? 'g' : 'm';
  }
  return methods;
}

// The cost-growth tables (issue: DP step time grows linearly in the batch and the parameters;
// where the mixed rule switches from ghost norms to materialization).
int bench_growth(int repeats, const torch::Device& device) {
  fmt::print("DP-SGD step time against batch size (flat clipping)\n");
  fmt::print("{:<12} {:>6} {:>16} {:>10} {:>15} {:>8}\n", "model", "batch", "non-private ms",
             "DP ms", "DP us/example", "ratio");
  for (const std::string arch : {"mlp", "cnn_tanh", "token_block"}) {
    for (const int64_t batch : {64, 128, 256, 512, 1024, 2048}) {
      if (arch == "token_block" && batch > 1024) continue;
      auto work = make_workload(arch, batch, Shapes{}, device);
      const auto [nonprivate, dp] = time_nonprivate_and_dp(work, batch, repeats, device);
      fmt::print("{:<12} {:>6} {:>16.2f} {:>10.2f} {:>15.1f} {:>7.2f}x\n", arch, batch, nonprivate,
                 dp, 1e3 * dp / static_cast<double>(batch), dp / nonprivate);
    }
  }
  fmt::print(
      "\nDP-SGD step time against model size (batch 256, token_block 64; layers: 1 = T=1 outer "
      "product, "
      "g = ghost norm, m = materialized)\n");
  fmt::print("{:<24} {:>10} {:>16} {:>10} {:>14} {:>8}  {}\n", "model", "params", "non-private ms",
             "DP ms", "DP ns/param", "ratio", "layers");
  const auto row = [&](const std::string& name, Workload work, int64_t batch) {
    const int64_t parameters = nn::count_parameters(*work.model);
    const std::string methods = norm_methods(work);
    const auto [nonprivate, dp] = time_nonprivate_and_dp(work, batch, repeats, device);
    fmt::print("{:<24} {:>10} {:>16.2f} {:>10.2f} {:>14.2f} {:>7.2f}x  {}\n", name, parameters,
               nonprivate, dp, 1e6 * dp / static_cast<double>(parameters), dp / nonprivate,
               methods);
  };
  for (const int64_t hidden : {64, 256, 1024, 2048}) {
    row(fmt::format("mlp hidden={}", hidden), make_workload("mlp", 256, Shapes{64, hidden}, device),
        256);
  }
  // token_block's Linear 128 -> 512 and 512 -> 128 are ghost-normed while T·(128 + 512) ≤ 128·512,
  // i.e. T ≤ 102; 181/182 is where Bu et al.'s 2T² ≤ p·d would switch.
  for (const int64_t tokens : {16, 64, 102, 103, 128, 181, 182, 256}) {
    row(fmt::format("token_block T={}", tokens),
        make_workload("token_block", 64, Shapes{tokens, 256}, device), 64);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dpforge::keep_freed_memory_for_reuse();
  auto& meter = TensorMemoryMeter::install();
  po::options_description options("dpforge_bench");
  options.add_options()("help,h", "show this help")(
      "models", po::value<std::string>()->default_value("mlp,cnn_tanh"),
      "comma-separated: mlp, cnn_tanh, wrn16_4, token_block")(
      "batches", po::value<std::string>()->default_value("256,1024"),
      "comma-separated batch sizes")("repeats", po::value<int>()->default_value(20),
                                     "timed steps per variant and cell (median reported)")(
      "warmup", po::value<int>()->default_value(3), "untimed steps per variant first")(
      "variants", po::value<std::string>()->default_value("nonprivate,flat,per_layer,automatic"),
      "comma-separated: nonprivate and DP-SGD clipping modes (flat, per_layer, automatic)")(
      "clipping", po::value<std::string>(),
      "old name of --variants without 'nonprivate' (kept for scripts)")(
      "secure-noise",
      "DP-SGD with the secure noise stream (the default of runs without train.seed)")(
      "threads", po::value<int>()->default_value(0), "LibTorch threads; 0 = all cores")(
      "tokens", po::value<int64_t>()->default_value(64), "token_block sequence length T")(
      "mlp-hidden", po::value<int64_t>()->default_value(256), "mlp hidden width")(
      "device", po::value<std::string>()->default_value("cpu"),
      "cpu or cuda (needs a build with the CUDA bridge)")(
      "breakdown",
      "also time the parts of a DP step (forward+backward to outputs, clip+sum, noise+step) "
      "and, on CPU, give each phase's tensor peak")(
      "accountants", "time the accountants instead (RDP 1e5 steps, PLD 1e4 steps, calibration)")(
      "noise",
      "time the noise generator instead: plain vs secure stream vs a copy, per buffer size")(
      "growth",
      "print the cost-growth tables instead: DP step time vs batch size and vs model size")(
      "data-parallel",
      "this process is one rank of WORLD_SIZE (torchrun's environment): time the DP step on its "
      "slice of each batch, sums all-reduced over Gloo (scripts/bench_distributed.py)")(
      "json", "print one JSON object instead of the table");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, options), values);
  } catch (const po::error& error) {
    fmt::print(stderr, "dpforge_bench: {}\n", error.what());
    return 2;
  }
  if (values.count("help") != 0U) {
    std::cout << options << "\n";
    return 0;
  }
  if (values["threads"].as<int>() > 0) torch::set_num_threads(values["threads"].as<int>());
  if (values.count("accountants") != 0U) return bench_accountants(values["repeats"].as<int>());
  const std::string device_name = values["device"].as<std::string>();
  if (device_name != "cpu" && device_name != "cuda") {
    fmt::print(stderr, "dpforge_bench: --device {}: expected cpu or cuda\n", device_name);
    return 2;
  }
  if (device_name == "cuda" && !(torch::cuda::is_available() && dp::cuda_kernels_available())) {
    fmt::print(stderr,
               "dpforge_bench: --device cuda needs a GPU and a build with the CUDA bridge "
               "(scripts/build_cuda.sh)\n");
    return 2;
  }
  const torch::Device device =
      device_name == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (values.count("noise") != 0U) return bench_noise(values["repeats"].as<int>(), device);
  if (values.count("data-parallel") != 0U) {
    std::vector<int64_t> batches;
    for (const auto& text : split_list(values["batches"].as<std::string>()))
      batches.push_back(std::stoll(text));
    return bench_data_parallel(
        split_list(values["models"].as<std::string>()), batches, values["repeats"].as<int>(),
        values["warmup"].as<int>(),
        {values["tokens"].as<int64_t>(), values["mlp-hidden"].as<int64_t>()});
  }
  if (values.count("growth") != 0U) return bench_growth(values["repeats"].as<int>(), device);
  const int repeats = values["repeats"].as<int>();
  const auto variant_names = values.count("clipping") != 0U
                                 ? split_list(values["clipping"].as<std::string>())
                                 : split_list(values["variants"].as<std::string>());
  const bool json = values.count("json") != 0U;
  const bool secure = values.count("secure-noise") != 0U;

  auto rows = nlohmann::json::array();
  if (!json) {
    fmt::print("{:<12} {:>6} {:>9} {:<11} {:>10} {:>8} {:>11} {:>7} {:>9}\n", "model", "batch",
               "params", "variant", "step ms", "ratio", "tensor MiB", "ratio", "RSS MiB");
  }
  for (const auto& arch : split_list(values["models"].as<std::string>())) {
    for (const auto& batch_text : split_list(values["batches"].as<std::string>())) {
      const int64_t batch = std::stoll(batch_text);
      const Shapes shapes{values["tokens"].as<int64_t>(), values["mlp-hidden"].as<int64_t>()};
      auto work = make_workload(arch, batch, shapes, device);
      const int64_t parameters = nn::count_parameters(*work.model);
      VariantSet set;
      add_variants(set, work, batch, variant_names, secure);
      auto& variants = set.variants;
      {
        // Library start-up (thread pools, kernel caches) is not training memory: one forward pass
        // on a single example first, exactly like the Python side of scripts/bench_vs_opacus.py.
        torch::NoGradGuard no_grad;
        work.model->forward(work.inputs.narrow(0, 0, 1));
      }
      const double resident_before = resident_mib();
      const int64_t device_before =
          device.is_cuda() ? dp::ops::cuda_peak_allocated_bytes(0, /*reset=*/true) : 0;
      // Tensor memory of a step: its peak of live CPU tensors beyond the model and the batch.
      const int64_t tensors_before = meter.live_bytes();
      time_interleaved(variants, repeats, values["warmup"].as<int>(), device,
                       device.is_cpu() ? &meter : nullptr);
      // Peak memory is only attributable to a variant when it ran alone in this process; on a GPU,
      // the caching allocator's peak over what was allocated before the first step.
      const bool alone = variants.size() == 1;
      const double added_mib =
          !alone ? 0.0
          : device.is_cuda()
              ? static_cast<double>(dp::ops::cuda_peak_allocated_bytes(0, false) - device_before) /
                    (1 << 20)
              : peak_resident_mib() - resident_before;
      double nonprivate_ms = 0, nonprivate_tensor_mib = 0;
      const auto tensor_mib = [&](const Variant& variant) {
        return static_cast<double>(variant.peak_tensor_bytes - tensors_before) / (1 << 20);
      };
      for (const auto& variant : variants) {
        if (variant.name != "nonprivate") continue;
        nonprivate_ms = median_of(variant.times_ms);
        nonprivate_tensor_mib = tensor_mib(variant);
      }
      for (const auto& variant : variants) {
        const double ms = median_of(variant.times_ms);
        const double ratio = nonprivate_ms > 0 ? ms / nonprivate_ms : 0.0;
        nlohmann::json row = {{"model", arch},
                              {"batch", batch},
                              {"parameters", parameters},
                              {"variant", variant.name},
                              {"median_ms", ms},
                              {"secure_noise", secure && variant.name != "nonprivate"},
                              {"threads", torch::get_num_threads()},
                              {"device", device.str()}};
        if (nonprivate_ms > 0) row["ratio"] = ratio;
        if (alone) row["peak_added_mib"] = added_mib;
        const bool metered = device.is_cpu();
        const double tensors = metered ? tensor_mib(variant) : 0.0;
        if (metered) row["peak_tensor_mib"] = tensors;
        rows.push_back(row);
        if (!json) {
          fmt::print("{:<12} {:>6} {:>9} {:<11} {:>10.2f} {:>8} {:>11} {:>7} {:>9}\n", arch, batch,
                     parameters, variant.name, ms,
                     nonprivate_ms > 0 ? fmt::format("{:.2f}x", ratio) : "-",
                     metered ? fmt::format("{:.1f}", tensors) : "-",
                     metered && nonprivate_tensor_mib > 0
                         ? fmt::format("{:.2f}x", tensors / nonprivate_tensor_mib)
                         : "-",
                     alone ? fmt::format("{:.1f}", added_mib) : "-");
        }
      }
      if (values.count("breakdown") != 0U && !set.dp_optimizers.empty()) {
        print_breakdown(arch, batch, work, *set.dp_optimizers.front(), repeats);
        if (device.is_cpu())
          print_memory_by_phase(arch, batch, work, *set.dp_optimizers.front(), meter);
      }
    }
  }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"threads", torch::get_num_threads()},
                                      {"allocator", heap_allocator()},
                                      {"rows", rows}}
                           .dump());
  } else {
    fmt::print("heap allocator: {}\n", heap_allocator());
  }
  return 0;
}
