// SPDX-License-Identifier: Apache-2.0
// The task and class count of a split (detail::resolve_task, raw_split.h).
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "dpforge/core/error.h"
#include "src/data/raw_split.h"

namespace dpforge::data::detail {
namespace {

bool integral(const torch::Tensor& targets) {
  return targets.eq(targets.round()).all().item<bool>();
}

// More classes than this is a label column that is not one (an id, a measurement).
constexpr int64_t kMaxInferredClasses = 1'000'000;

// A private run's task = auto without declared classes, read from the schema the recipe states:
// a CSV label not listed in data.categorical is a number, so the task is regression. Anything
// else would choose the loss and the model's output layer from the private training labels, and
// the released weights would reveal that choice.
Task schema_task(const SourceOptions& options, std::vector<std::string>& notes) {
  const auto& categorical = options.categorical;
  const bool declared_categorical =
      std::find(categorical.begin(), categorical.end(), options.label) != categorical.end();
  if (options.format != Format::kCsv || declared_categorical) {
    throw_input_error(
        "train.task = auto would choose the loss and the model's output layer from the private "
        "training labels, and the released weights would reveal that choice; set train.task = "
        "binary, multiclass or regression, or declare the classes (data.label_values{})",
        declared_categorical
            ? fmt::format(": data.label '{}' is in data.categorical, list its classes",
                          options.label)
            : " or data.classes");
  }
  notes.push_back(fmt::format(
      "train.task = auto: regression, since data.label '{}' is not in data.categorical (a "
      "private run takes the task from the recipe, never from the labels); for a classifier list "
      "its classes in data.label_values, or set train.task",
      options.label));
  return Task::kRegression;
}

Task infer_task(const SourceOptions& options, const RawSplit& train, int64_t known_classes,
                std::vector<std::string>& notes) {
  if (known_classes > 0) {  // declared in the recipe: public
    const Task task = known_classes == 2 ? Task::kBinary : Task::kMulticlass;
    notes.push_back(
        fmt::format("train.task = auto: {} ({} classes in data.classes / data.label_values)",
                    to_string(task), known_classes));
    return task;
  }
  if (options.private_training) return schema_task(options, notes);
  const bool whole = integral(train.targets);
  const double low = train.targets.min().item<double>(), high = train.targets.max().item<double>();
  Task task = Task::kRegression;
  std::string why;
  if (whole && low >= 0) {
    task = high <= 1 ? Task::kBinary : Task::kMulticlass;
    why = fmt::format("whole numbers in [{:g}, {:g}]", low, high);
  } else {
    why = whole ? "negative numbers" : "numbers that are not all whole";
  }
  notes.push_back(fmt::format(
      "train.task = auto: inferred {} from the labels of {} ({}); set train.task to choose",
      to_string(task), train.name, why));
  return task;
}

}  // namespace

ResolvedTask resolve_task(const SourceOptions& options, const RawSplit& train,
                          std::vector<std::string>& notes) {
  const int64_t known =
      options.classes > 0 ? options.classes : static_cast<int64_t>(options.label_values.size());
  Task task = Task::kRegression;
  switch (options.task) {
    case TaskChoice::kMulticlass:
      task = Task::kMulticlass;
      break;
    case TaskChoice::kBinary:
      task = Task::kBinary;
      break;
    case TaskChoice::kRegression:
      return {Task::kRegression, 0};
    case TaskChoice::kAuto:
      task = infer_task(options, train, known, notes);
      break;
  }
  if (task == Task::kRegression) return {task, 0};
  if (task == Task::kBinary) {
    if (known != 0 && known != 2) {
      throw_input_error(
          "train.task = binary has 2 classes; data.classes / data.label_values give {}", known);
    }
    return {task, 2};
  }
  int64_t classes = known;
  if (classes == 0) {
    if (options.private_training) {
      throw_input_error(
          "data.classes = 0 would take the class count from the private training labels (the "
          "largest + 1), and the released model's output layer would reveal it; set data.classes "
          "or data.label_values");
    }
    const double high = train.targets.max().item<double>();
    if (!(high < static_cast<double>(kMaxInferredClasses))) {
      throw_input_error(
          "{}: the largest label is {:g}; more than {} classes is not a class label "
          "(set train.task = regression, or data.classes)",
          train.name, high, kMaxInferredClasses);
    }
    classes = static_cast<int64_t>(high) + 1;
    notes.push_back(fmt::format(
        "data.classes = 0: {} classes (the largest training label + 1); set data.classes to fix it",
        classes));
  }
  if (classes < 2) {
    throw_input_error("{}: a multiclass task needs at least 2 classes, the labels give {}",
                      train.name, classes);
  }
  return {task, classes};
}

}  // namespace dpforge::data::detail
