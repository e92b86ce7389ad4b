// SPDX-License-Identifier: Apache-2.0
// The Philox uniform stream the sampler and the auditor draw from.
#include "dpforge/core/random.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace dpforge {
namespace {

TEST(PhiloxUniform, RestoredPositionContinuesTheSameStream) {
  PhiloxUniform a(17);
  for (int i = 0; i < 5; ++i) a.next();  // mid-block: word 2
  PhiloxUniform b(17);
  b.restore(a.block(), a.word());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(a.next(), b.next());
}

}  // namespace
}  // namespace dpforge
