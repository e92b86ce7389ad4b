// SPDX-License-Identifier: Apache-2.0
#include "dpforge/audit/scores_file.h"

#include <charconv>
#include <cmath>
#include <string_view>

#include "dpforge/core/error.h"

namespace dpforge::audit {
namespace {

bool parse_number(std::string_view text, double& value) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

ScoredRows parse_scores(std::istream& text, const std::string& name) {
  ScoredRows rows;
  std::string line;
  for (int64_t number = 1; std::getline(text, line); ++number) {
    if (line.empty() || line == "\r" || line[0] == '#') continue;
    const auto comma = line.find(',');
    double score = 0, member = 0;
    if (comma == std::string::npos ||
        !parse_number(std::string_view(line).substr(0, comma), score) ||
        !parse_number(std::string_view(line).substr(comma + 1), member)) {
      if (number == 1 && line.rfind("score", 0) == 0) continue;  // header
      throw_input_error("{}:{}: expected 'score,member' with a number and 0 or 1, got '{}'", name,
                        number, line);
    }
    if (std::isnan(score)) throw_input_error("{}:{}: score is NaN", name, number);
    if (member != 0 && member != 1) {
      throw_input_error("{}:{}: member must be 0 or 1, got '{}'", name, number,
                        line.substr(comma + 1));
    }
    (member == 1 ? rows.members : rows.non_members).push_back(score);
  }
  if (rows.members.empty() || rows.non_members.empty()) {
    throw_input_error("{}: need at least one member (1) and one non-member (0) row; got {} and {}",
                      name, rows.members.size(), rows.non_members.size());
  }
  return rows;
}

}  // namespace dpforge::audit
