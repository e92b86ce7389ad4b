// SPDX-License-Identifier: Apache-2.0
// Clipping: dropped examples and the chunked row norms.
#include "dpforge/dp/clipping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dp/oracle.h"
#include "dpforge/dp/per_sample.h"
#include "dpforge/nn/layers.h"
#include "src/dp/device_ops.h"

namespace dpforge::dp {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Clipping, NonFiniteExampleIsDroppedAndCounted) {
  torch::manual_seed(7);
  torch::nn::Sequential model(nn::Linear(3, 2));
  model->to(torch::kFloat64);
  auto x = torch::randn({4, 3}, torch::kFloat64);
  x[2][1] = std::numeric_limits<double>::quiet_NaN();
  const auto aux = torch::randn({4, 2}, torch::kFloat64);
  EngineRun run;
  run_engine(model, x, aux, probe_loss, run);
  const auto clipped =
      clip_and_sum(run.tape.records(), run.output_grads, ClipOptions().max_grad_norm(1e9));
  EXPECT_EQ(clipped.dropped, 1);
  const auto keep = torch::tensor({0, 1, 3}, torch::kLong);
  auto oracle =
      loop_gradients(model, x.index_select(0, keep), aux.index_select(0, keep), probe_loss);
  expect_close(flat_sums(model, run.tape, clipped), oracle[0] + oracle[1] + oracle[2],
               "sum without NaN example");
}

TEST(Clipping, RowNormsSquaredAFewRowsAtATimeAgreeWithTheWholeBatchInFloat64) {
  torch::manual_seed(8);
  // float32 sums of 4k-70k squares against float64 ones: relative error well below 1e-5.
  constexpr double kFloatSumTolerance = 1e-5;
  // 257 x 4097 and 3 x 70000 are squared in several chunks (256 KiB each), the others at once.
  for (const auto& [b, n] :
       std::vector<std::pair<int64_t, int64_t>>{{257, 4097}, {3, 70000}, {64, 33}, {0, 5}}) {
    const auto rows = torch::randn({b, n});
    const auto norms = ops::reference::row_squared_norms(rows);
    ASSERT_EQ(norms.sizes(), torch::IntArrayRef({b})) << b << "x" << n;
    EXPECT_TRUE(torch::allclose(norms.to(torch::kFloat64), rows.to(torch::kFloat64).square().sum(1),
                                kFloatSumTolerance, 0.0))
        << b << "x" << n;
  }
}

}  // namespace
}  // namespace dpforge::dp
