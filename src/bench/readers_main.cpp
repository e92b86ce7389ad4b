// SPDX-License-Identifier: Apache-2.0
// dpforge_bench_readers: how fast a data source becomes a Dataset, and how much memory it takes to
// get there. A benchmark, not a test (scripts/bench_readers.sh prepares the files and prints the
// table of docs/performance.md).
//   dpforge_bench_readers FORMAT FILES [LABEL_COLUMN]   FORMAT: csv | npz | npy | idx
// Prints one JSON line: format, bytes read, seconds (best of 3), MB/s, examples, and how much the
// first load raised the process's peak resident memory.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "dpforge/core/text.h"
#include "dpforge/data/sources.h"

using namespace dpforge;

namespace {

// VmHWM in MiB: the process's peak resident memory so far.
double peak_mib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: dpforge_bench_readers csv|npz|npy|idx FILES [LABEL_COLUMN]\n");
    return 2;
  }
  data::SourceOptions options;
  const auto format = data::kFormatNames.parse(argv[1]);
  if (!format) return 2;
  options.format = *format;
  if (argc > 3) options.label = argv[3];
  const auto files = split_list(argv[2]);
  double bytes = 0;
  for (const auto& file : files) bytes += static_cast<double>(std::filesystem::file_size(file));
  const double before = peak_mib();
  double best = 1e300, first_peak = 0;
  int64_t examples = 0;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    const auto loaded = data::load_source(options, files, {});
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    examples = loaded.train.size();
    // The first load's peak: later repeats may land beside memory the allocator kept.
    if (repeat == 0) first_peak = peak_mib();
  }
  fmt::print(
      "{{\"format\": \"{}\", \"bytes\": {:.0f}, \"seconds\": {:.3f}, \"mb_per_s\": {:.1f}, "
      "\"examples\": {}, \"peak_rss_growth_mib\": {:.0f}}}\n",
      argv[1], bytes, best, bytes / best / 1e6, examples, first_peak - before);
  return 0;
}
