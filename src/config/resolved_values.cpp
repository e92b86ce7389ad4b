// SPDX-License-Identifier: Apache-2.0
// What a recipe's keys resolve to once read: auto values, defaults that depend on the data's kind,
// and the checks that wait for a run (recipe.h).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <set>

#include "dpforge/config/recipe.h"
#include "dpforge/core/error.h"
#include "dpforge/core/text.h"

namespace dpforge::config {

// data.format = auto: what data.train's file name says, fashion-mnist without one.
data::Format resolved_format(const DataOptions& data, const std::string& origin) {
  if (data.format() != data::Format::kAuto) return data.format();
  if (data.train().empty()) return data::Format::kFashionMnist;
  std::string file =
      std::filesystem::path(data.train().substr(0, data.train().find(','))).filename().string();
  std::transform(file.begin(), file.end(), file.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (file.ends_with(".gz")) file.resize(file.size() - 3);
  if (file.ends_with(".csv")) return data::Format::kCsv;
  if (file.ends_with(".npz")) return data::Format::kNpz;
  if (file.ends_with(".npy")) return data::Format::kNpy;
  if (file.ends_with("-ubyte") || file.ends_with(".idx") || file.find("-idx") != std::string::npos)
    return data::Format::kIdx;
  throw_input_error(
      "{}: data.format = auto cannot tell the format of data.train = '{}' from its name; set "
      "data.format = csv, npz, npy or idx",
      origin, data.train());
}

data::Scaling resolved_scaling(const Recipe& recipe) {
  switch (recipe.data.scaling()) {
    case ScalingChoice::kNone:
      return data::Scaling::kNone;
    case ScalingChoice::kStandardize:
      return data::Scaling::kStandardize;
    case ScalingChoice::kMinMax:
      return data::Scaling::kMinMax;
    case ScalingChoice::kAuto:
      break;
  }
  const bool table = resolved_format(recipe.data) == data::Format::kCsv;
  return recipe.privacy.enabled() && table ? data::Scaling::kMinMax : data::Scaling::kNone;
}

double stats_noise_multiplier(const Recipe& recipe) {
  if (recipe.data.dp_stats_noise_multiplier()) return *recipe.data.dp_stats_noise_multiplier();
  const bool own_data = resolved_format(recipe.data) != data::Format::kFashionMnist;
  return recipe.privacy.enabled() && own_data ? kDefaultStatsNoiseMultiplier : 0.0;
}

void check_model_init_exists(const Recipe& recipe) {
  // The non-throwing form: a name too long for the file system is bad input, not a crash.
  std::error_code unreadable;
  if (const auto& init = recipe.model.init();
      !init.empty() && !std::filesystem::is_regular_file(init, unreadable)) {
    throw_input_error(
        "{}: model.init = '{}': no such file (a state dict: torch.save of a "
        "model's state_dict(), or a dpforge run's model.pt)",
        recipe.path.empty() ? "recipe" : recipe.path, init);
  }
}

std::vector<int64_t> kept_classes(const DataOptions& data) {
  std::set<int64_t> classes;
  const auto number = [&](const std::string& text, const std::string& item) {
    int64_t value = -1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0 || value > 1'000'000)
      throw_input_error(
          "data.keep_classes = '{}': '{}' is not a class index or a range of them (allowed: "
          "class indices 0 to 1000000 and ranges such as 5-9, separated by commas)",
          data.keep_classes(), item);
    return value;
  };
  for (const auto& item : split_list(data.keep_classes())) {
    const auto dash = item.find('-', 1);
    const int64_t first = number(item.substr(0, dash), item);
    const int64_t last = dash == std::string::npos ? first : number(item.substr(dash + 1), item);
    if (last < first)
      throw_input_error("data.keep_classes = '{}': the range '{}' is empty", data.keep_classes(),
                        item);
    for (int64_t c = first; c <= last; ++c) classes.insert(c);
  }
  return {classes.begin(), classes.end()};
}

double test_fraction(const DataOptions& data) {
  if (data.test_fraction() > 0 || !data.test().empty()) return data.test_fraction();
  return resolved_format(data) == data::Format::kFashionMnist ? 0.0 : kDefaultTestFraction;
}

DatasetSizeSource dataset_size_source(const Recipe& recipe) {
  if (recipe.privacy.public_dataset_size() > 0) return DatasetSizeSource::kDeclared;
  if (resolved_format(recipe.data) == data::Format::kFashionMnist)
    return DatasetSizeSource::kRecipe;
  if (recipe.privacy.adjacency() == privacy::Adjacency::kReplaceOne)
    return DatasetSizeSource::kReplaceOne;
  return DatasetSizeSource::kDpCount;
}

}  // namespace dpforge::config
