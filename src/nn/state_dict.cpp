// SPDX-License-Identifier: Apache-2.0
#include "dpforge/nn/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ostream.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "dpforge/core/error.h"
#include "dpforge/core/files.h"

namespace dpforge::nn {

void save_state_dict(const torch::nn::Module& model, const std::filesystem::path& path) {
  c10::Dict<std::string, torch::Tensor> state;
  for (const auto& item : model.named_parameters()) state.insert(item.key(), item.value().detach());
  for (const auto& item : model.named_buffers()) state.insert(item.key(), item.value().detach());
  // torch::pickle_save would tag the dict with its TorchScript type, a global that Python's
  // default `torch.load(weights_only=True)` refuses; so pickle without aggregate tags and write
  // the same zip container (data.pkl + data/<i> per tensor) that Python's torch.save writes.
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* bytes, size_t size) { pickled.insert(pickled.end(), bytes, bytes + size); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(state));
  pickler.stop();
  std::string container;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t size) {
    container.append(static_cast<const char*>(bytes), size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                     writer);
  writer.writeEndOfFile();
  write_file_atomic(path, container);
}

void load_state_dict(torch::nn::Module& model, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error("{}: cannot open the model weights", path.string());
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  c10::IValue loaded;
  try {
    loaded = torch::jit::pickle_load(bytes);
  } catch (const c10::Error& error) {
    throw_input_error("{}: not a PyTorch state dict ({})", path.string(),
                      error.what_without_backtrace());
  }
  if (!loaded.isGenericDict())
    throw_input_error("{}: not a state dict (name -> tensor)", path.string());
  const auto dict = loaded.toGenericDict();
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, torch::Tensor& target) {
    const auto found = dict.find(c10::IValue(name));
    if (found == dict.end())
      throw_input_error("{}: has no '{}' for this model", path.string(), name);
    const auto value = found->value().toTensor();
    if (value.sizes() != target.sizes()) {
      throw_input_error("{}: '{}' has shape {}, the model needs {}", path.string(), name,
                        fmt::streamed(value.sizes()), fmt::streamed(target.sizes()));
    }
    target.copy_(value);
  };
  for (auto& item : model.named_parameters()) assign(item.key(), item.value());
  for (auto& item : model.named_buffers()) assign(item.key(), item.value());
  // Strict, as PyTorch's load_state_dict: a tensor the model has no place for means the file is
  // another network's, whatever the names it shares.
  const auto parameters = model.named_parameters(), buffers = model.named_buffers();
  for (const auto& entry : dict) {
    const auto name = entry.key().isString() ? entry.key().toStringRef() : std::string("?");
    if (!parameters.contains(name) && !buffers.contains(name)) {
      throw_input_error(
          "{}: holds '{}', which this model does not have (another network's "
          "weights?)",
          path.string(), name);
    }
  }
}

}  // namespace dpforge::nn
