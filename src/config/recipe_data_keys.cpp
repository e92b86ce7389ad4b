// SPDX-License-Identifier: Apache-2.0
// The [data] section's keys: where the examples come from and how each becomes a tensor.
#include "src/config/key_makers.h"

namespace dpforge::config::detail {

std::vector<KeySpec> data_keys() {
  constexpr auto kMaxInt = std::numeric_limits<int64_t>::max();
  return {
      enum_key(
          "data.format", data::kFormatNames,
          "fashion-mnist (data.root, no other key needed), or your own data in data.train / "
          "data.test: csv (a table with a header row), npz (arrays x and y), npy (x.npy,y.npy) "
          "or idx (an MNIST-style images,labels pair, .gz or not). auto: fashion-mnist without "
          "data.train, else by its file name (.csv, .npz, .npy, -ubyte or .idx, .gz or not).",
          [](const Recipe& r) { return r.data.format(); },
          [](Recipe& r, auto v) { r.data.format(v); }),
      string_key(
          "data.root",
          "Folder holding the four Fashion-MNIST IDX .gz files. Empty: $DPFORGE_DATA_ROOT, "
          "else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).",
          [](const Recipe& r) { return r.data.root(); },
          [](Recipe& r, const std::string& v) { r.data.root(v); }),
      string_key(
          "data.train",
          "The training data (paths relative to the current folder): one file for csv and npz, "
          "inputs,labels for npy and idx.",
          [](const Recipe& r) { return r.data.train(); },
          [](Recipe& r, const std::string& v) { r.data.train(v); }),
      string_key(
          "data.test",
          "The test data, like data.train; empty: data.test_fraction of data.train is held out "
          "(a fifth when data.test_fraction is 0 too).",
          [](const Recipe& r) { return r.data.test(); },
          [](Recipe& r, const std::string& v) { r.data.test(v); }),
      float_key(
          "data.test_fraction", 0, false, 0.9,
          "Without data.test: this fraction of data.train, chosen with data.split_seed, is the "
          "test set (never trained on); 0 with no data.test: 0.2.",
          [](const Recipe& r) { return r.data.test_fraction(); },
          [](Recipe& r, double v) { r.data.test_fraction(v); }),
      float_key(
          "data.validation_fraction", 0, false, 0.9,
          "This fraction of the training examples, chosen with data.split_seed, is held out as the "
          "validation set (like data.validation_size; not both).",
          [](const Recipe& r) { return r.data.validation_fraction(); },
          [](Recipe& r, double v) { r.data.validation_fraction(v); }),
      int_key(
          "data.split_seed", 0, kMaxInt,
          "Seed of the test_fraction / validation_fraction splits (chooses data only).",
          [](const Recipe& r) { return r.data.split_seed(); },
          [](Recipe& r, int64_t v) { r.data.split_seed(v); }),
      string_key(
          "data.label", "csv: the label column.", [](const Recipe& r) { return r.data.label(); },
          [](Recipe& r, const std::string& v) { r.data.label(v); }),
      string_key(
          "data.features", "csv: feature columns, comma-separated; empty: all but the label.",
          [](const Recipe& r) { return r.data.features(); },
          [](Recipe& r, const std::string& v) { r.data.features(v); }),
      string_key(
          "data.categorical",
          "csv: columns whose values are categories, encoded over the vocabulary given in "
          "data.stats (a vocabulary read off the private data would be a release).",
          [](const Recipe& r) { return r.data.categorical(); },
          [](Recipe& r, const std::string& v) { r.data.categorical(v); }),
      enum_key(
          "data.categorical_encoding", data::kCategoricalEncodingNames,
          "csv: a categorical column becomes one 0/1 feature per category, or a learned vector "
          "of model.embedding_dim numbers per category (a DP Embedding layer in front of the "
          "model; model.arch = mlp). A value outside a DP vocabulary is all zeros, or one vector "
          "of its "
          "own.",
          [](const Recipe& r) { return r.data.categorical_encoding(); },
          [](Recipe& r, auto v) { r.data.categorical_encoding(v); }),
      string_key(
          "data.label_values",
          "Class names in class order for text labels (e.g. 'benign,malignant'); empty: labels "
          "are numbers.",
          [](const Recipe& r) { return r.data.label_values(); },
          [](Recipe& r, const std::string& v) { r.data.label_values(v); }),
      int_key(
          "data.classes", 0, 1'000'000,
          "Classes of a multiclass task; 0: the largest training label + 1 (said when inferred).",
          [](const Recipe& r) { return r.data.classes(); },
          [](Recipe& r, int64_t v) { r.data.classes(v); }),
      string_key(
          "data.keep_classes",
          "Classification: keep only the examples of these classes in every split, as class "
          "indices and ranges separated by commas (e.g. 5-9); the model keeps an output for "
          "every class. Empty: all. With Fashion-MNIST a private run plans with its published "
          "6,000 training images per class; with your own data the size is counted after it.",
          [](const Recipe& r) { return r.data.keep_classes(); },
          [](Recipe& r, const std::string& v) { r.data.keep_classes(v); }),
      enum_key(
          "data.layout", data::kLayoutNames,
          "Axis order of 4-D image arrays (npy, npz): N x C x H x W or N x H x W x C.",
          [](const Recipe& r) { return r.data.layout(); },
          [](Recipe& r, auto v) { r.data.layout(v); }),
      enum_key(
          "data.scaling", kScalingChoiceNames,
          "Numeric inputs: as they are, standardized with the public mean and std, or min-max "
          "scaled to [0, 1] over the public range (values outside are clamped), both from "
          "data.stats (or released under DP: data.dp_stats_noise_multiplier). uint8 arrays are "
          "always divided by 255 first. auto: minmax for a private run on a CSV table, else none.",
          [](const Recipe& r) { return r.data.scaling(); },
          [](Recipe& r, auto v) { r.data.scaling(v); }),
      string_key(
          "data.stats",
          "A JSON file of public statistics (docs/privacy.md: per-column mean/std, min/max, "
          "categories; 'inputs' for arrays; 'target'). Empty: none. Nothing is estimated from the "
          "private data, except under data.dp_stats_noise_multiplier (a DP release, accounted).",
          [](const Recipe& r) { return r.data.stats(); },
          [](Recipe& r, const std::string& v) { r.data.stats(v); }),
      float_or_auto_key(
          "data.dp_stats_noise_multiplier", 0, 1e6,
          "Statistics estimated under DP on the training split, each a Gaussian release of noise "
          "multiplier sigma_s composed in the run's accountant before training (docs/privacy.md): "
          "with data.scaling = minmax or standardize, the range of numeric columns data.stats "
          "gives no min and max (histograms over a fixed grid of binades); with data.scaling = "
          "standardize, the mean and std of those columns and of columns (or of all array "
          "inputs) whose data.stats entry gives a public range but no mean and std; a regression "
          "target's mean and std from its public range; the vocabulary of data.categorical "
          "columns without public categories (noisy counts kept above a threshold). 0 = none: "
          "every statistic must be public. auto: 5 in a private run on your own data (released "
          "only where data.stats gives nothing), else 0.",
          [](const Recipe& r) { return r.data.dp_stats_noise_multiplier(); },
          [](Recipe& r, std::optional<double> v) { r.data.dp_stats_noise_multiplier(v); }),
      float_key(
          "data.dp_vocabulary_delta_share", 0, true, 0.5,
          "DP vocabularies: the share of privacy.delta their thresholds may spend (the chance "
          "that an example's own rare category is released); the run's accountant gets the rest. "
          "A larger share lowers the threshold (more rare categories kept) and raises epsilon.",
          [](const Recipe& r) { return r.data.dp_vocabulary_delta_share(); },
          [](Recipe& r, double v) { r.data.dp_vocabulary_delta_share(v); }),
      enum_key(
          "data.missing", data::kMissingNames,
          "csv: a missing value (empty, NA, NaN, ?) is an error, drops its row, or is filled "
          "(data.fill_value for numbers, a category of its own for categorical columns).",
          [](const Recipe& r) { return r.data.missing(); },
          [](Recipe& r, auto v) { r.data.missing(v); }),
      float_key(
          "data.fill_value", -1e300, false, 1e300,
          "The number a missing numeric value becomes with data.missing = fill (before scaling).",
          [](const Recipe& r) { return r.data.fill_value(); },
          [](Recipe& r, double v) { r.data.fill_value(v); }),
      int_key(
          "data.train_subset", 0, kMaxInt,
          "Train on this many examples only; 0 = the whole training split.",
          [](const Recipe& r) { return r.data.train_subset(); },
          [](Recipe& r, int64_t v) { r.data.train_subset(v); }),
      enum_key(
          "data.subset", kSubsetNames,
          "How data.train_subset chooses: the first N examples, or N drawn at random with "
          "data.subset_seed.",
          [](const Recipe& r) { return r.data.subset(); },
          [](Recipe& r, auto v) { r.data.subset(v); }),
      int_key(
          "data.subset_seed", 0, kMaxInt,
          "Seed of the random subset (chooses data only; not the training seed).",
          [](const Recipe& r) { return r.data.subset_seed(); },
          [](Recipe& r, int64_t v) { r.data.subset_seed(v); }),
      int_key(
          "data.test_subset", 0, kMaxInt,
          "Evaluate on the first N test examples only; 0 = the whole test split.",
          [](const Recipe& r) { return r.data.test_subset(); },
          [](Recipe& r, int64_t v) { r.data.test_subset(v); }),
      int_key(
          "data.validation_size", 0, kMaxInt,
          "Hold the last N training examples out of training as the validation set watched by "
          "train.early_stopping_patience (they are not trained on, so DP does not cover them); 0 = "
          "none.",
          [](const Recipe& r) { return r.data.validation_size(); },
          [](Recipe& r, int64_t v) { r.data.validation_size(v); }),
  };
}

}  // namespace dpforge::config::detail
