// SPDX-License-Identifier: Apache-2.0
#pragma once

// DPF_ARG(T, name) = default; declares a field with LibTorch's TORCH_ARG shape: a chainable setter
// `opts.name(value)` returning the options object, and getters `opts.name()`. Recipe keys equal the
// field names (`train.lr` <-> TrainOptions::lr).
#define DPF_ARG(T, name)                                          \
 public:                                                          \
  inline auto name(const T& new_##name)->decltype(*this) {        \
    this->name##_ = new_##name;                                   \
    return *this;                                                 \
  }                                                               \
  inline const T& name() const noexcept { return this->name##_; } \
  inline T& name() noexcept { return this->name##_; }             \
                                                                  \
 private:                                                         \
  T name##_
