// SPDX-License-Identifier: Apache-2.0
// One file's examples before the task is known: float32 inputs and float64 target values (class
// indices or regression targets). Shared by the readers of the data module; not a public header.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/data/sources.h"
#include "dpforge/data/table_encoding.h"

namespace dpforge::data::detail {

struct RawSplit {
  torch::Tensor inputs;                    // float32 [N, ...]
  torch::Tensor targets;                   // float64 [N]
  std::vector<std::string> header;         // CSV: the file's columns
  std::vector<std::string> feature_names;  // CSV: the encoded features
  std::vector<int64_t> lines;              // CSV: each example's line in the file, for messages
  int64_t dropped = 0;
  std::vector<DeferredColumn> deferred;
  std::vector<DeferredCategorical> deferred_categories;
  std::vector<DeferredColumn> unbounded;      // left raw for a DP range (data/dp_bounds.h)
  std::vector<CategoryCodes> category_codes;  // embedded public-vocabulary columns
  std::string name;                           // the file(s), for messages
  TableEncoding encoding;  // CSV: the columns' encodings (deferred ones: placeholders)
};

/// A CSV table: label column → targets (names mapped through label_values), numeric features
/// scaled, categorical ones one-hot encoded or coded (SourceOptions::categorical_encoding), both
/// with the public statistics. `train_header`: for a test file, the training file's columns, which
/// its own must equal.
RawSplit read_csv_split(const std::filesystem::path& path, const SourceOptions& options,
                        const RawSplit* train = nullptr);

/// Arrays x (N x ...) and labels y (N, or N x 1) from an NPY, NPZ or IDX source: float32 inputs
/// (uint8 pixels divided by 255, 3-D made N x 1 x H x W, NHWC permuted), scaled with the public
/// "inputs" statistics or listed in `deferred` for DP statistics. `name`: the file(s), for
/// messages.
RawSplit array_split(torch::Tensor x, torch::Tensor y, const SourceOptions& options,
                     const std::string& name);

/// Scales a value of `column` per `scaling` with its public statistics (InputError when they lack
/// what it needs). Min-max clamps to the public range.
/// Whether `stats` holds what `scaling` needs of a column (min and max, or mean and std).
bool has_public_scaling(Scaling scaling, const ColumnStats* stats);
/// "min and max" or "mean and std": what `scaling` needs, for messages; "" for none.
std::string scaling_needs(Scaling scaling);
/// The statistics file's entry for what `scaling` needs, to fill in: "\"min\": ..., \"max\": ..."
/// or "\"mean\": ..., \"std\": ..."; "" for none.
std::string scaling_entry(Scaling scaling);
/// `entry` says where in the statistics file the column's entry belongs ("columns.age", "inputs").
ColumnScaler column_scaler(Scaling scaling, const ColumnStats* stats, const std::string& entry,
                           const SourceOptions& options);

/// The task and class count: the recipe's, or inferred and said in `notes`: from the classes the
/// recipe declares (data.classes, data.label_values); in a private run from the schema it states
/// (a CSV label not in data.categorical is a number: regression), never from the labels, since the
/// task and class count shape the released model's loss and output layer, which the guarantee
/// would then not cover; in a non-private run from the training labels.
struct ResolvedTask {
  Task task;
  int64_t classes;
};
ResolvedTask resolve_task(const SourceOptions& options, const RawSplit& train,
                          std::vector<std::string>& notes);

}  // namespace dpforge::data::detail
