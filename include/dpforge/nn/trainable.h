// SPDX-License-Identifier: Apache-2.0
// Which parameters a run trains. DP fine-tuning starts from weights that must not depend on the
// private data (pretrained on public data) and trains some layers of them: a frozen parameter is
// released exactly as it was loaded, so it needs no per-example gradient, no noise and no update,
// and the backward stops at the lowest layer that trains (the DP layers record on the tape only
// when they train, layers.cpp). Its norm and noise then cover the trainable parameters alone,
// which is what makes fine-tuning a few layers cheaper and more accurate than training all.
//
// Example:
//   auto model = nn::build_layers(nn::parse_layers("flatten linear(64) relu linear(out)"),
//                                 {1, 28, 28}, 10);
//   nn::load_state_dict(*model, "pretrained.pt");  // torch.save(m.state_dict(), ...)
//   nn::freeze_all_but(*model, "last");            // only the classifier trains
//
// Patterns (model.trainable): names separated by spaces or commas. A pattern selects the
// parameters whose name it equals, those of the module it names ("3" selects 3.weight and
// 3.bias; "3.body" everything inside that residual), or those its glob matches (* and ?, e.g.
// "3.*"); `last` is the last module that has parameters (the classifier of every preset), `all`
// everything. `dpforge summary RECIPE` prints the names.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace dpforge::nn {

/// Freezes (requires_grad = false) every parameter that no pattern of `patterns` selects, and
/// returns the names of those that still train. InputError (naming `key`) on a pattern that
/// selects nothing (the message lists the modules) and on one that selects a layer's weight but
/// not its bias (a layer trains whole or not at all).
std::vector<std::string> freeze_all_but(torch::nn::Module& model, const std::string& patterns,
                                        const std::string& key = "model.trainable");

/// The names of the parameters that train (requires_grad), in the model's order.
std::vector<std::string> trained_parameter_names(const torch::nn::Module& model);

/// Total scalars, trainable or not (count_parameters counts the trainable ones).
int64_t count_all_parameters(const torch::nn::Module& model);

}  // namespace dpforge::nn
