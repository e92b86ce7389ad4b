// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes as an audit-scores file (`score,member` rows). Accepted files go
// through the whole summary audit-scores prints, multi-run bounds included: every lower bound is a
// number at least 0 (infinite scores and ties included), or the file is refused with an
// InputError naming the line.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "dpforge/audit/canary_auditor.h"
#include "dpforge/audit/scores_file.h"
#include "dpforge/audit/summary.h"
#include "dpforge/core/error.h"
#include "fuzz/fuzz_entry.h"

DPFORGE_FUZZ_ENTRY(scores) {
  std::istringstream text(std::string(reinterpret_cast<const char*>(data), size));
  try {
    auto rows = dpforge::audit::parse_scores(text, "fuzz.csv");
    const dpforge::audit::CanaryAuditor auditor(std::move(rows.members),
                                                std::move(rows.non_members));
    const auto summary = dpforge::audit::summarize(auditor, 0.95, 1e-5, /*multi_run=*/true);
    for (const auto& [name, bound] : summary.at("epsilon_lower_bound").items()) {
      if (!bound.is_number() || std::isnan(bound.get<double>()) || bound.get<double>() < 0)
        __builtin_trap();
    }
  } catch (const dpforge::InputError&) {
  }
  return 0;
}
