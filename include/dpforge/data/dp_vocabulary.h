// SPDX-License-Identifier: Apache-2.0
// Category vocabularies estimated with DP instead of taken as public (categorical columns without
// "categories" in data.stats, under data.dp_stats_noise_multiplier): which values of each column
// become features.
//
// The mechanism, Gaussian thresholding (partition selection) over k columns on the private
// training split: every value v of column j that occurs in the split has its count n_jv released
// as ñ_jv = n_jv + N(0, s²) with s = σ_v·√k, and v is kept iff ñ_jv > τ. Under add/remove
// adjacency one example moves one count per column by 1, so the counts of values others also hold
// are a Gaussian mechanism of L2 sensitivity √k and noise multiplier σ_v, composed in the run's
// accountant (a step of sampling rate 1). The example's own values that nobody else holds (at most
// k, count 1) are released with probability at most p = 1 − Φ((τ − 1)/s)^k; τ is set so that
// p = δ_v, the thresholds' share of the run's δ. That event costs δ outside the Gaussian
// composition: the whole run is (ε, δ_acc(ε) + η)-DP with η = −ln(1 − p) ≥ p (both adjacency
// directions: adding the example mixes in the event with weight p; removing it scales the other
// side by 1 − p, i.e. shifts ε by ln(1 − p), and a privacy profile falls by at most that shift;
// docs/privacy.md). The run's accountant is therefore asked at δ − η (DpPlan::preprocessing_delta).
//
// The kept values are released sorted by name, never in the order the private rows show them;
// applying the vocabulary to every split (one-hot or embedding codes, a value outside it all zeros
// or code 0) is post-processing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "dpforge/data/dataset.h"

namespace dpforge::data {

/// A categorical column read as raw codes (one feature holding the index into `values`), waiting
/// for a DP vocabulary. `values` lists every spelling the files showed (train, then test, rows
/// later dropped for a missing value included), in the order read: internal only, never released;
/// only values the training split holds are candidates.
struct DeferredCategorical {
  int64_t feature = 0;
  std::string name;
  std::vector<std::string> values;
};

/// One thresholded Gaussian release of category counts, for the accountant and the report.
struct VocabularyRelease {
  std::string what;
  double noise_multiplier = 0;  // σ_v: the counts' noise std over their L2 sensitivity √k
  double sensitivity = 0;       // √k
  double threshold = 0;         // τ, in counts
  double delta = 0;             // η = −ln(1 − p): what the thresholds add to the run's δ
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> vocabularies;  // per column, sorted
};

/// τ such that an example's own (count-1) values in `columns` columns pass with probability
/// `release_probability` in all, under noise std `noise_std`.
double vocabulary_threshold(double noise_std, size_t columns, double release_probability);

/// η = −ln(1 − p): the δ a threshold release adds to the run's guarantee.
double vocabulary_delta(double release_probability);

/// GaussianRelease-like text for a vocabulary release over `columns` columns.
std::string describe_vocabulary_release(size_t columns);

/// Releases the vocabularies of `columns` from `train` (noise from `seed`, a CSPRNG key in
/// production) with noise multiplier `noise_multiplier` and total pass probability
/// `release_probability`, then encodes those columns of `train` and of every dataset in `others`
/// (encode_categories). The caller accounts for the release (run::before_training).
VocabularyRelease dp_vocabulary(Dataset& train, const std::vector<Dataset*>& others,
                                const std::vector<DeferredCategorical>& columns,
                                double noise_multiplier, double release_probability, uint64_t seed,
                                CategoricalEncoding encoding = CategoricalEncoding::kOneHot);

/// Encodes each deferred column's raw-code feature over its vocabulary (`vocabularies` as in
/// VocabularyRelease): one-hot features in its place (all zeros for a value outside it), keeping
/// the other features in order; or, for embeddings, its code in the vocabulary (CategoryCodes, 0
/// outside it) in place, listed in dataset.category_codes. Feature indices of `columns` refer to
/// `dataset` before the call, in increasing order (as the CSV reader lists them).
void encode_categories(Dataset& dataset, const std::vector<DeferredCategorical>& columns,
                       const std::vector<std::vector<std::string>>& vocabularies,
                       CategoricalEncoding encoding);

}  // namespace dpforge::data
