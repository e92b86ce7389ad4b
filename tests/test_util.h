// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "dpforge/core/error.h"

namespace dpforge::testing {

// The CLI under test and the shipped recipes (definitions from tests/CMakeLists.txt).
inline const std::string kCli = DPFORGE_CLI;
inline const std::string kRecipes = std::string(DPFORGE_SOURCE_DIR) + "/recipes/";
inline const std::string kQuickstart = kRecipes + "quickstart.ini";

// --set arguments for a seeded private run of 20 steps (q = 0.1, sigma 1, RDP: no calibration)
// with checkpoints every 4 steps and a seeded audit, so that two runs can be compared bit for bit.
inline const std::string kSeededPrivateRun =
    " --set data.train_subset=2000 --set data.test_subset=500 --set model.mlp_hidden=32"
    " --set train.batch_size=200 --set train.epochs=2 --set privacy.noise_multiplier=1"
    " --set privacy.target_epsilon=0 --set privacy.accountant=rdp --set train.seed=11"
    " --set privacy.secure_noise=false --set audit.seed=5 --set audit.canaries=500"
    " --set run.threads=1 --set train.checkpoint_every=4";

// A fresh folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dpforge-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_text(path));
}

// The message of the InputError that `action` throws, or "no error" (other exceptions escape).
inline std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  return "no error";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing its output and exit status.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, got);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace dpforge::testing
