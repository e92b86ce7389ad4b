// SPDX-License-Identifier: Apache-2.0
#include "dpforge/run/model_file.h"

#include <fmt/ranges.h>
#include <torch/torch.h>

#include <fstream>

#include "dpforge/core/error.h"
#include "dpforge/nn/models.h"
#include "dpforge/nn/state_dict.h"
#include "dpforge/nn/trainable.h"

namespace dpforge::run {
namespace {

constexpr const char* kFormat = "dpforge model";
constexpr int kVersion = 1;

nlohmann::json parameters_json(const torch::nn::Module& model) {
  auto parameters = nlohmann::json::array();
  for (const auto& item : model.named_parameters()) {
    parameters.push_back({{"name", item.key()},
                          {"shape", item.value().sizes().vec()},
                          {"trained", item.value().requires_grad()}});
  }
  return parameters;
}

// Each layer of the string as built, its arguments resolved (defaults, `out`), so that a reader
// builds the same modules without knowing the layer language's defaults (scripts/load_model.py).
nlohmann::json layers_json(const config::Recipe& recipe, const data::Dataset& like) {
  auto layers = nlohmann::json::array();
  for (const auto& layer : nn::model_layers(recipe.model, like)) {
    layers.push_back({{"position", layer.position},
                      {"type", layer.type},
                      {"text", layer.text},
                      {"arguments", layer.arguments},
                      {"output_shape", layer.output_shape}});
  }
  return layers;
}

nlohmann::json privacy_json(const config::Recipe& recipe, const torch::nn::Module& model,
                            const nlohmann::json& report) {
  const auto& privacy = report.at("privacy");
  if (!privacy.value("enabled", false)) {
    return {{"private", false},
            {"statement", "trained without differential privacy: the weights carry no guarantee"}};
  }
  const auto trained = nn::trained_parameter_names(model);
  const auto frozen = model.named_parameters().size() - trained.size();
  return {{"private", true},
          {"epsilon", privacy.at("epsilon")},
          {"delta", privacy.at("delta")},
          {"accountant", privacy.at("accountant")},
          {"adjacency", privacy.at("adjacency")},
          {"trained_privately", trained},
          {"statement",
           fmt::format("({:.4g}, {:g})-DP under {} adjacency for the parameters trained "
                       "privately{}; the initial weights {} and must not depend on the private "
                       "data; the preprocessing below uses public or DP-released statistics only",
                       privacy.at("epsilon").get<double>(), recipe.privacy.delta(),
                       privacy.at("adjacency").get<std::string>(),
                       frozen == 0 ? std::string()
                                   : fmt::format(" (model.trainable = {}); the {} others are the "
                                                 "initial weights unchanged",
                                                 recipe.model.trainable(), frozen),
                       recipe.model.init().empty() ? "were drawn from the run's seed"
                                                   : fmt::format("were loaded from {} (model.init)",
                                                                 recipe.model.init()))}};
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw_input_error("{}: not found (is this a finished dpforge run?)", path.string());
  try {
    return nlohmann::json::parse(file);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: not valid JSON ({})", path.string(), error.what());
  }
}

// The model.json's parameters must be model.pt's after loading: a file edited or copied from
// another run is refused, naming the first difference.
void check_parameters(const torch::nn::Module& model, const nlohmann::json& described,
                      const std::string& source) {
  const auto actual = parameters_json(model);
  for (size_t i = 0; i < std::max(actual.size(), described.size()); ++i) {
    const auto name = [](const nlohmann::json& list, size_t at) {
      return at < list.size() ? fmt::format("{} {}", list[at].at("name").get<std::string>(),
                                            list[at].at("shape").dump())
                              : std::string("nothing");
    };
    if (i >= actual.size() || i >= described.size() ||
        actual[i].at("name") != described[i].at("name") ||
        actual[i].at("shape") != described[i].at("shape")) {
      throw_input_error("{}: parameter {} is {} in model.json, {} in the rebuilt model", source, i,
                        name(described, i), name(actual, i));
    }
  }
}

}  // namespace

nlohmann::json describe_model(const config::Recipe& recipe, const torch::nn::Module& model,
                              const RunData& data, const nlohmann::json& report) {
  const auto& train = data.train;
  auto codes = nlohmann::json::array();
  for (const auto& code : train.category_codes)
    codes.push_back(
        {{"feature", code.feature}, {"categories", code.categories}, {"name", code.name}});
  const auto options = nn::resolved(recipe.model, train.example_shape());
  nlohmann::json json{
      {"format", kFormat},
      {"version", kVersion},
      {"weights", "model.pt"},
      {"task", data::to_string(train.task)},
      {"classes", train.task == data::Task::kRegression ? 0 : train.num_classes},
      {"outputs", data::model_outputs(train.task, train.num_classes)},
      {"model",
       {{"arch", nn::to_string(options.arch())},
        {"layers", nn::preset_layers(options)},
        {"mlp_hidden", options.mlp_hidden()},
        {"embedding_dim", options.embedding_dim()},
        {"dropout", options.dropout()},
        {"input_shape", train.example_shape()},
        {"layer_list", layers_json(recipe, train)},
        {"category_codes", std::move(codes)},
        {"parameters", parameters_json(model)}}},
      {"preprocessing", data.encoding ? to_json(*data.encoding) : nlohmann::json(nullptr)},
      {"privacy", privacy_json(recipe, model, report)}};
  return json;
}

TrainedModel load_trained_model(const std::filesystem::path& run_dir) {
  const auto path = run_dir / "model.json";
  const std::string source = path.string();
  TrainedModel trained;
  trained.description = read_json_file(path);
  const auto& json = trained.description;
  if (json.value("format", "") != kFormat || json.value("version", 0) != kVersion) {
    throw_input_error("{}: not a dpforge model description of version {}", source, kVersion);
  }
  try {
    trained.task = *data::kTaskNames.parse(json.at("task").get<std::string>());
    trained.classes = json.at("classes").get<int64_t>();
    const auto& described = json.at("model");
    nn::ModelOptions options;
    options.arch(*nn::kArchNames.parse(described.at("arch").get<std::string>()))
        .layers(described.at("layers").get<std::string>())
        .mlp_hidden(described.at("mlp_hidden").get<int64_t>())
        .embedding_dim(described.at("embedding_dim").get<int64_t>())
        .dropout(described.at("dropout").get<double>());
    data::Dataset like;
    like.task = trained.task;
    like.num_classes = trained.classes;
    auto shape = described.at("input_shape").get<std::vector<int64_t>>();
    shape.insert(shape.begin(), 0);
    like.inputs = torch::empty(shape, torch::kFloat32);
    like.labels = torch::empty({0}, data::label_dtype(trained.task));
    for (const auto& code : described.at("category_codes")) {
      like.category_codes.push_back({code.at("feature").get<int64_t>(),
                                     code.at("categories").get<int64_t>(),
                                     code.at("name").get<std::string>()});
    }
    trained.model = nn::make_model(options, like);
    check_parameters(*trained.model, described.at("parameters"), source);
    if (!json.at("preprocessing").is_null())
      trained.encoding = data::table_encoding_from_json(json.at("preprocessing"), source);
  } catch (const nlohmann::json::exception& error) {
    throw_input_error("{}: {}", source, error.what());
  } catch (const std::bad_optional_access&) {
    throw_input_error("{}: an unknown task or architecture name", source);
  }
  nn::load_state_dict(*trained.model, run_dir / json.value("weights", "model.pt"));
  trained.model->eval();
  return trained;
}

}  // namespace dpforge::run
