// SPDX-License-Identifier: Apache-2.0
// dpforge_fuzz_seeds TARGET PATH...: runs one fuzz target (fuzz/fuzz_entry.h) over files and the
// files of folders, the way libFuzzer replays a corpus, and prints how many it ran. Exit 0 when
// every input returned; a target's own contract check traps (exit by signal). The test suite runs
// it over each target's seed corpus (fuzz/corpus/<target>), so the targets build and link with
// the rest of the project in every CI run.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

int recipe_fuzz_one(const uint8_t* data, size_t size);
int idx_fuzz_one(const uint8_t* data, size_t size);
int csv_fuzz_one(const uint8_t* data, size_t size);
int npy_fuzz_one(const uint8_t* data, size_t size);
int npz_fuzz_one(const uint8_t* data, size_t size);
int stats_fuzz_one(const uint8_t* data, size_t size);
int layers_fuzz_one(const uint8_t* data, size_t size);
int scores_fuzz_one(const uint8_t* data, size_t size);

namespace {

struct Target {
  std::string_view name;
  int (*run)(const uint8_t*, size_t);
};

constexpr Target kTargets[] = {
    {"recipe", recipe_fuzz_one}, {"idx", idx_fuzz_one},       {"csv", csv_fuzz_one},
    {"npy", npy_fuzz_one},       {"npz", npz_fuzz_one},       {"stats", stats_fuzz_one},
    {"layers", layers_fuzz_one}, {"scores", scores_fuzz_one},
};

std::vector<std::filesystem::path> inputs(const std::vector<std::string>& paths) {
  std::vector<std::filesystem::path> files;
  for (const auto& path : paths) {
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path))
        if (entry.is_regular_file()) files.push_back(entry.path());
    } else {
      files.emplace_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  const auto usage = [] {
    std::fprintf(stderr, "usage: dpforge_fuzz_seeds TARGET PATH...; targets:");
    for (const auto& target : kTargets) std::fprintf(stderr, " %s", target.name.data());
    std::fprintf(stderr, "\n");
    return 2;
  };
  if (argc < 3) return usage();
  const auto* target = std::find_if(std::begin(kTargets), std::end(kTargets),
                                    [&](const Target& t) { return t.name == argv[1]; });
  if (target == std::end(kTargets)) return usage();
  const auto files = inputs(std::vector<std::string>(argv + 2, argv + argc));
  if (files.empty()) {
    std::fprintf(stderr, "dpforge_fuzz_seeds: no inputs under the paths given\n");
    return 2;
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "dpforge_fuzz_seeds: cannot read %s\n", file.c_str());
      return 2;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    target->run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("%s: ran %zu inputs\n", argv[1], files.size());
  return 0;
}
