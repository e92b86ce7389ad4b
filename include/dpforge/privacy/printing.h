// SPDX-License-Identifier: Apache-2.0
// Printing a privacy claim. ε and δ from an accountant are upper bounds; printed to the nearest
// digit they could read smaller than what the accountant certified (2.12345 as "2.123"), a
// claim stronger than the one made. These round to nearest when that is not below the value, and
// up otherwise.
//
// Example:
//   fmt::print("({}, {})-DP\n", privacy::upper_significant(epsilon, 4),
//              privacy::upper_significant(delta, 3));
#pragma once
#include <string>

namespace dpforge::privacy {

/// `value` with `digits` significant digits (as fmt's {:.Ng}), never below `value`; "inf" for +∞.
std::string upper_significant(double value, int digits);

/// `value` with `decimals` digits after the point (as fmt's {:.Nf}), never below `value`.
std::string upper_fixed(double value, int decimals);

}  // namespace dpforge::privacy
