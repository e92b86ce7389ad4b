// SPDX-License-Identifier: Apache-2.0
// The `score,member` files `dpforge audit-scores` reads: one row per example (or per run), a score
// (higher = more likely a member) and 1 for a member, 0 for a non-member. An optional header row
// ("score,...") and lines starting with '#' are skipped. These files come from other tools: every
// malformed row is an InputError naming the file and line (fuzz/scores_fuzzer.cpp).
//
// Example:
//   std::ifstream file(path);
//   const auto rows = audit::parse_scores(file, path);
//   const audit::CanaryAuditor auditor(rows.members, rows.non_members);
#pragma once
#include <istream>
#include <string>
#include <vector>

namespace dpforge::audit {

struct ScoredRows {
  std::vector<double> members, non_members;
};

/// Both kinds of rows, at least one each; InputError naming `name`:line otherwise, and for a score
/// that is not a number (NaN included) or a member flag other than 0 or 1.
ScoredRows parse_scores(std::istream& text, const std::string& name);

}  // namespace dpforge::audit
