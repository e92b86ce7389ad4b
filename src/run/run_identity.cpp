// SPDX-License-Identifier: Apache-2.0
#include "src/run/run_identity.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include "dpforge/core/random.h"
#include "dpforge/report/run_report.h"

namespace dpforge::run::detail {
namespace {

// A file enters the key by its name alone: where the data lives (a relative or an absolute path, a
// copy in a temporary folder) must not change a seeded run's bytes, and the file's contents must
// not reach its noise key (noise drawn from a function of the private data is not the mechanism
// the accountant composes). data.train may list several files; model.init is a file too.
std::string file_names_only(const std::string& paths) {
  std::string names;
  size_t begin = 0;
  while (begin <= paths.size()) {
    const size_t end = std::min(paths.find(',', begin), paths.size());
    if (begin > 0) names += ',';
    const std::filesystem::path path(paths.substr(begin, end - begin));
    names += (path.has_filename() ? path : path.parent_path()).filename().string();
    begin = end + 1;
  }
  return names;
}

// Keys whose default became auto enter the key as what auto resolves to, so a recipe that left
// them out repeats its bytes (model.arch was cnn_tanh, data.scaling none, and an auto that
// resolves to them is that network and that scaling). data.dp_stats_noise_multiplier = auto enters
// as 0, its old default: a run where it releases something could not run at 0 (those statistics
// would be missing), and where it releases nothing it is the run of 0.
nlohmann::json with_auto_resolved(nlohmann::json values, const config::Recipe& recipe,
                                  const std::vector<int64_t>& example_shape) {
  values["model.arch"] = nn::to_string(nn::resolved(recipe.model, example_shape).arch());
  values["data.scaling"] = std::string(data::kScalingNames.name(config::resolved_scaling(recipe)));
  if (!config::stats_noise_multiplier_given(recipe)) values["data.dp_stats_noise_multiplier"] = "0";
  return values;
}

// FNV-1a of the resolved recipe: which run of a family of seeded runs this is. Retired keys are
// hashed at the value every run had, so a seeded recipe repeats its bytes after a key goes.
uint64_t recipe_key(nlohmann::json recipe_values) {
  for (const auto& retired : config::retired_recipe_keys())
    recipe_values.emplace(retired.key, retired.value);
  // Keys added since enter only when set: a recipe that never names them repeats its bytes.
  for (const char* added : {"model.init", "data.keep_classes"}) {
    if (recipe_values.value(added, "").empty()) recipe_values.erase(added);
  }
  if (recipe_values.value("model.trainable", "all") == "all")
    recipe_values.erase("model.trainable");
  for (const char* key : {"data.train", "data.test", "data.stats", "data.root", "model.init"}) {
    const auto value = recipe_values.find(key);
    if (value != recipe_values.end() && value->is_string())
      *value = file_names_only(value->get<std::string>());
  }
  return fnv1a(recipe_values.dump());
}

}  // namespace

uint64_t sensitivity_check_seed(uint64_t audit_seed) {
  constexpr uint64_t kSensitivityCheckPurpose = 0x5851F42D4C957F2DULL;
  return derive_seed(audit_seed, kSensitivityCheckPurpose);
}

// Independent streams for the sampler and the noise. Without a recipe seed each key comes from the
// OS CSPRNG (getrandom) and is never written anywhere. With one, both are derived from the seed and
// from `run_key`, the resolved recipe's hash: rerunning a recipe reproduces it (so its noise is
// known to whoever knows the seed), while the runs of a sweep, which share the seed but not the
// recipe, never share a noise key.
train::PrivateSeeds private_seeds(bool reproducible, uint64_t seed, bool secure, uint64_t run_key) {
  if (!reproducible) return {secure_random_seed(), secure_random_seed(), secure};
  const uint64_t keyed = derive_seed(seed, run_key);
  return {derive_seed(keyed, 1), derive_seed(keyed, 2), secure};
}

RunIdentity new_identity(const config::Recipe& recipe, const std::vector<int64_t>& example_shape) {
  RunIdentity identity;
  const bool reproducible = recipe.train.seed().has_value();
  identity.seed = reproducible ? *recipe.train.seed() : secure_random_seed();
  identity.recipe_values = report::recipe_values_json(recipe);
  const uint64_t run_key =
      recipe_key(with_auto_resolved(identity.recipe_values, recipe, example_shape));
  identity.private_seeds =
      private_seeds(reproducible, identity.seed, config::secure_noise(recipe), run_key);
  // Member canaries are examples of the population the sampler draws from, so which canaries are
  // members shapes every batch: a seeded run derives the auditor's seed too, or it would not
  // reproduce. The membership stays independent of the noise and the sampler (another key).
  identity.audit_seed = recipe.audit.seed().value_or(
      reproducible ? derive_seed(derive_seed(identity.seed, run_key), 3) : secure_random_seed());
  identity.private_seeds.sensitivity_check = sensitivity_check_seed(identity.audit_seed);
  return identity;
}

}  // namespace dpforge::run::detail
