// SPDX-License-Identifier: Apache-2.0
// Reading a recipe: the only file that knows Boost.Program_options. The keys themselves are
// declared in recipe_keys.cpp.
#include "dpforge/config/recipe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include "dpforge/core/error.h"
#include "dpforge/core/text.h"
#include "dpforge/nn/layer_spec.h"
#include "program_options_errors.h"
#include "src/config/key_table.h"

namespace po = boost::program_options;

namespace dpforge::config {
namespace {

using detail::BadValue;
using detail::key_table;
using detail::KeySpec;

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

const KeySpec* find_key(const std::string& key) {
  for (const auto& spec : key_table()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

// A retired key at its old value is accepted and ignored; any other value is refused, saying why.
void check_retired(const RetiredKey& retired, const std::string& value, const std::string& origin) {
  if (value != retired.value) {
    throw_input_error("{}: {} = '{}': the key was removed ({}); only '{}' is still accepted",
                      origin, retired.key, value, retired.why, retired.value);
  }
}

std::string keys_of_section(const std::string& key) {
  const std::string section = key.substr(0, key.find('.'));
  std::vector<std::string> names;
  for (const auto& spec : key_table()) {
    if (spec.key.rfind(section + ".", 0) == 0) names.push_back(spec.key);
  }
  if (names.empty()) {
    return "sections are [run] [data] [model] [train] [privacy] [audit] [sweep]";
  }
  return fmt::format("keys in [{}] are {}", section, fmt::join(names, ", "));
}

void apply_value(Recipe& recipe, const KeySpec& spec, const std::string& value,
                 const std::string& origin) {
  // A run folder stores its recipe as an INI file (to_ini), where '#' starts a comment: a value
  // holding one could not be read back as it was given.
  if (value.find_first_of("#\n") != std::string::npos) {
    throw_input_error("{}: {} = '{}' is invalid: a value cannot hold '#' or a line break", origin,
                      spec.key, value);
  }
  try {
    spec.set(recipe, value);
  } catch (const BadValue& bad) {
    throw_input_error("{}: {} = '{}' is invalid: expected {}", origin, spec.key, value,
                      bad.allowed);
  }
}

// Cross-key rules that no single key can check.
// Keys that only make sense together: where the data comes from and how it is split.
void check_data_keys(const DataOptions& data, bool privacy_enabled, nn::Arch arch,
                     const std::string& origin) {
  const data::Format format = resolved_format(data, origin);
  const bool builtin = format == data::Format::kFashionMnist;
  if (builtin && (!data.train().empty() || !data.test().empty() || data.test_fraction() > 0)) {
    throw_input_error(
        "{}: data.train, data.test and data.test_fraction are for your own data (data.format = "
        "csv, npz, npy or idx); data.format = fashion-mnist reads data.root",
        origin);
  }
  if (!builtin && data.train().empty()) {
    throw_input_error("{}: data.format = {} needs data.train (the file(s) to train on)", origin,
                      data::kFormatNames.name(format));
  }
  if (!builtin && !data.test().empty() && data.test_fraction() > 0) {
    throw_input_error(
        "{}: give one of data.test (a test file) and data.test_fraction (a seeded split of "
        "data.train), not both",
        origin);
  }
  if (data.categorical_encoding() == data::CategoricalEncoding::kEmbedding &&
      arch != nn::Arch::kMlp && arch != nn::Arch::kLayers && arch != nn::Arch::kAuto) {
    throw_input_error(
        "{}: data.categorical_encoding = embedding puts a DP Embedding in front of the mlp; "
        "model.arch = {} takes images: use model.arch = mlp or layers (or one_hot encoding)",
        origin, nn::to_string(arch));
  }
  if (data.validation_size() > 0 && data.validation_fraction() > 0) {
    throw_input_error(
        "{}: data.validation_size and data.validation_fraction both hold out "
        "validation examples; set one",
        origin);
  }
  if (data.dp_stats_noise_multiplier().value_or(0) > 0 && (!privacy_enabled || builtin)) {
    throw_input_error(
        "{}: data.dp_stats_noise_multiplier = {} releases statistics of your own data under DP, "
        "composed in the run's accountant: it needs privacy.enabled = true and a data.format "
        "other than fashion-mnist (whose pixel map is fixed); auto releases only when both hold",
        origin, *data.dp_stats_noise_multiplier());
  }
  try {
    (void)kept_classes(data);
  } catch (const InputError& error) {
    throw_input_error("{}: {}", origin, error.what());
  }
  if (format != data::Format::kCsv &&
      (!data.label().empty() || !data.features().empty() || !data.categorical().empty())) {
    throw_input_error(
        "{}: data.label, data.features and data.categorical name CSV columns; "
        "data.format = {} has none",
        origin, data::kFormatNames.name(format));
  }
}

void validate(const Recipe& recipe, const std::string& origin) {
  const auto& privacy = recipe.privacy;
  if (privacy.enabled() && privacy.noise_multiplier() == 0 && privacy.target_epsilon() == 0) {
    throw_input_error(
        "{}: privacy.enabled = true needs privacy.target_epsilon > 0 (sigma is calibrated to it) "
        "or privacy.noise_multiplier > 0 (or both: that sigma, stopping at the budget)",
        origin);
  }
  if (privacy.delta() >= 1) {
    throw_input_error("{}: privacy.delta = {} is invalid: expected a number in (0, 1)", origin,
                      privacy.delta());
  }
  if (privacy.adjacency() == privacy::Adjacency::kReplaceOne &&
      privacy.accountant() != privacy::AccountantKind::kPld) {
    throw_input_error(
        "{}: privacy.adjacency = replace_one needs privacy.accountant = pld (the rdp accountant's "
        "bound holds under add_remove only); now privacy.accountant = {}",
        origin, privacy::to_string(privacy.accountant()));
  }
  const bool layered = recipe.model.arch() == nn::Arch::kLayers;
  if (layered == recipe.model.layers().empty()) {
    throw_input_error(
        "{}: {}", origin,
        layered ? "model.arch = layers needs model.layers (e.g. 'flatten linear(64) relu "
                  "linear(out)')"
                : "model.layers is the network of model.arch = layers; set model.arch = layers, "
                  "or remove model.layers to use the preset");
  }
  if (layered) nn::parse_layers(recipe.model.layers());  // its syntax errors now, not mid-run
  if (recipe.model.dropout() > 0 && layered) {
    throw_input_error("{}: model.dropout applies to the presets; write dropout(p) in model.layers",
                      origin);
  }
  if (recipe.model.dropout() > 0 && recipe.model.arch() == nn::Arch::kWrn16_4) {
    throw_input_error(
        "{}: model.dropout applies to mlp and cnn_tanh; wrn16_4 has no dropout layers", origin);
  }
  const auto& data = recipe.data;
  if (recipe.train.early_stopping_patience() > 0 && data.validation_size() == 0 &&
      data.validation_fraction() == 0) {
    throw_input_error(
        "{}: train.early_stopping_patience = {} needs data.validation_size or "
        "data.validation_fraction > 0 (the held-out examples whose accuracy it watches)",
        origin, recipe.train.early_stopping_patience());
  }
  check_data_keys(data, privacy.enabled(), recipe.model.arch(), origin);
  if (privacy.enabled() && privacy.secure_noise() == SecureNoise::kOn &&
      recipe.train.seed().has_value()) {
    throw_input_error(
        "{}: privacy.secure_noise = true draws the noise key from the OS, so train.seed = {} "
        "cannot "
        "reproduce the run; unset train.seed (production) or set privacy.secure_noise = false "
        "(reproducible experiments)",
        origin, *recipe.train.seed());
  }
}

}  // namespace

void apply_overrides(Recipe& recipe, const std::vector<std::string>& overrides) {
  for (const auto& item : overrides) {
    const std::string origin = fmt::format("--set {}", item);
    const auto equals = item.find('=');
    if (equals == std::string::npos) {
      throw_input_error("{}: expected section.key=value", origin);
    }
    const std::string key = trim(std::string_view(item).substr(0, equals));
    const std::string value = trim(std::string_view(item).substr(equals + 1));
    if (const auto* retired = find_retired_key(key)) {
      check_retired(*retired, value, origin);
      continue;
    }
    const KeySpec* spec = find_key(key);
    if (spec == nullptr) {
      throw_input_error("{}: unknown key '{}'; {}", origin, key, keys_of_section(key));
    }
    apply_value(recipe, *spec, value, origin);
  }
  validate(recipe, recipe.path.empty() ? "--set" : recipe.path);
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream file(path);
  if (!file) {
    throw_input_error("{}: cannot open recipe file ({})", path,
                      std::filesystem::exists(path) ? "permission denied" : "no such file");
  }
  return parse_recipe(file, path, overrides);
}

Recipe parse_recipe(std::istream& file, const std::string& path,
                    const std::vector<std::string>& overrides) {
  Recipe recipe;
  recipe.path = path;
  po::options_description description;
  for (const auto& spec : key_table()) {
    description.add_options()(spec.key.c_str(), po::value<std::string>());
  }
  for (const auto& retired : retired_recipe_keys()) {
    description.add_options()(retired.key.c_str(), po::value<std::string>());
  }
  po::variables_map values;
  try {
    po::store(po::parse_config_file(file, description, /*allow_unregistered=*/false), values);
  } catch (const po::unknown_option& error) {
    const std::string key = error.get_option_name();
    throw_input_error("{}: unknown key '{}'; {}", path, key, keys_of_section(key));
  } catch (const po::multiple_occurrences& error) {
    throw_input_error("{}: key '{}' is given more than once", path, error.get_option_name());
  } catch (const po::error& error) {
    throw_input_error("{}: {}", path, describe_program_options_error(error));
  }
  for (const auto& spec : key_table()) {
    if (values.count(spec.key) != 0U) {
      apply_value(recipe, spec, trim(values[spec.key].as<std::string>()), path);
    }
  }
  for (const auto& retired : retired_recipe_keys()) {
    if (values.count(retired.key) != 0U)
      check_retired(retired, trim(values[retired.key].as<std::string>()), path);
  }
  if (recipe.run.name().empty()) {
    recipe.run.name(std::filesystem::path(path).stem().string());
  }
  apply_overrides(recipe, overrides);
  return recipe;
}

const std::vector<RetiredKey>& retired_recipe_keys() {
  static const std::vector<RetiredKey> retired{
      {"privacy.fault", "none",
       "planted privacy bugs live in the test suite (tests/audit/planted_faults.h) and the "
       "mutation suite (scripts/mutation_suite.sh), never in a shipped run"}};
  return retired;
}

const RetiredKey* find_retired_key(const std::string& key) {
  for (const auto& retired : retired_recipe_keys()) {
    if (retired.key == key) return &retired;
  }
  return nullptr;
}

std::vector<KeyInfo> recipe_keys() {
  const Recipe defaults;
  std::vector<KeyInfo> keys;
  for (const auto& spec : key_table()) {
    keys.push_back({spec.key, spec.type, spec.allowed, spec.get(defaults), spec.doc});
  }
  return keys;
}

std::string to_ini(const Recipe& recipe) {
  std::string text =
      "# The resolved recipe of this run: every key, defaults included. `dpforge train --resume "
      "DIR`\n# reads it; `dpforge train DIR/recipe.ini --out NEW` trains the same recipe again.\n";
  std::string section;
  for (const auto& [key, value] : resolved_values(recipe)) {
    const auto dot = key.find('.');
    if (key.substr(0, dot) != section) {
      section = key.substr(0, dot);
      text += fmt::format("\n[{}]\n", section);
    }
    text += fmt::format("{} = {}\n", key.substr(dot + 1), value);
  }
  return text;
}

std::vector<std::pair<std::string, std::string>> resolved_values(const Recipe& recipe) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& spec : key_table()) values.emplace_back(spec.key, spec.get(recipe));
  return values;
}

}  // namespace dpforge::config
