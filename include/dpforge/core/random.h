// SPDX-License-Identifier: Apache-2.0
// The project's randomness at its root: seeds from the OS, seeds derived from a recipe seed, and
// uniform draws from a counter-based Philox stream (kernels/philox.h, shared bit for bit with the
// CUDA noise kernel). Everything that draws (sampler, noise, auditor) builds on this file, so no
// module needs another's generator.
#pragma once
#include <cstdint>
#include <mutex>
#include <string_view>

namespace dpforge {

/// LibTorch's default CPU generator is one per process. Code that seeds it and draws from it in one
/// go (a model's initialization after torch::manual_seed, the independence check that saves and
/// restores its state) holds this lock, so that trainings on several threads at once (shadow
/// models) neither interleave their draws nor restore each other's state.
std::mutex& torch_generator_mutex();

/// 64 bits from the OS CSPRNG (getrandom(2)); throws std::runtime_error if it is unavailable.
uint64_t secure_random_seed();

/// A seed for `purpose` derived from `seed`: the first two words of Philox(seed, purpose), so
/// streams derived for different purposes are independent.
uint64_t derive_seed(uint64_t seed, uint64_t purpose);

/// 64-bit FNV-1a of `text`: a stable name for a recipe (the key its seeded streams are derived
/// from, the hash a sweep compares), not a secret and not collision-resistant.
constexpr uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

/// Uniform doubles in (0, 1] from a Philox stream, 53 random bits each (two 32-bit words).
class PhiloxUniform {
 public:
  explicit PhiloxUniform(uint64_t seed, uint64_t block = 0) : seed_(seed), block_(block) {}
  double next();
  uint64_t seed() const { return seed_; }
  /// Position in the stream (a drawn block is never reused).
  uint64_t block() const { return block_; }
  int word() const { return word_; }
  /// Continues the stream at a position saved from block() and word() (checkpoints);
  /// std::invalid_argument for a position no stream can be at.
  void restore(uint64_t block, int word);

 private:
  uint64_t seed_;
  uint64_t block_;
  int word_ = 4;  // 4 = the current block is used up
  uint32_t words_[4] = {};
};

/// A standard normal for a DP release computed on the CPU (the data statistics): the halved sum of
/// four Box–Muller normals, each from two 53-bit uniforms of `uniform`, so the tail reaches past
/// 17σ and truncation adds nothing measurable to δ (as the training noise's secure stream,
/// docs/privacy.md).
double secure_standard_normal(PhiloxUniform& uniform);

}  // namespace dpforge
