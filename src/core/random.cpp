// SPDX-License-Identifier: Apache-2.0
#include "dpforge/core/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>
#include <string>

#include "kernels/philox.h"

namespace dpforge {

std::mutex& torch_generator_mutex() {
  static std::mutex mutex;
  return mutex;
}

uint64_t secure_random_seed() {
  uint64_t seed = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(&seed);
  size_t got = 0;
  while (got < sizeof seed) {
    const ssize_t n = ::getrandom(bytes + got, sizeof seed - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  return seed;
}

uint64_t derive_seed(uint64_t seed, uint64_t purpose) {
  const auto bits = kernels::philox4x32_10(seed, purpose);
  return (static_cast<uint64_t>(bits.v[0]) << 32) | bits.v[1];
}

double PhiloxUniform::next() {
  if (word_ >= 3) {  // need two fresh words
    const auto bits = kernels::philox4x32_10(seed_, block_++);
    for (int i = 0; i < 4; ++i) words_[i] = bits.v[i];
    word_ = 0;
  }
  const uint64_t high = words_[word_] >> 5, low = words_[word_ + 1] >> 6;  // 27 + 26 bits
  word_ += 2;
  // (k + 1) / 2⁵³ for k uniform on [0, 2⁵³): uniform on (0, 1], so log() is finite.
  return (static_cast<double>((high << 26) | low) + 1.0) * (1.0 / 9007199254740992.0);
}

void PhiloxUniform::restore(uint64_t block, int word) {
  if (!(word >= 0 && word <= 4 && (word >= 3 || block > 0))) {
    throw std::invalid_argument("PhiloxUniform: bad stream position");
  }
  block_ = block;
  word_ = word;
  if (word_ < 3) {  // the unused words of the current block are regenerated, not stored
    const auto bits = kernels::philox4x32_10(seed_, block_ - 1);
    for (int i = 0; i < 4; ++i) words_[i] = bits.v[i];
  }
}

double secure_standard_normal(PhiloxUniform& uniform) {
  double sum = 0;
  for (int k = 0; k < 4; ++k) {
    const double radius = std::sqrt(-2.0 * std::log(uniform.next()));
    sum += radius * std::cos(2.0 * std::numbers::pi * uniform.next());
  }
  return 0.5 * sum;
}

}  // namespace dpforge
