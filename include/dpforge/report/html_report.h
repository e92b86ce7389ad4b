// SPDX-License-Identifier: Apache-2.0
// `dpforge report RUN_DIR`: one self-contained HTML page per run (numbers, inline SVG charts, no
// scripts or external files), for a person to open in a browser or attach to an audit file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace dpforge::report {

/// The page for a run's report.json.
std::string html_report(const nlohmann::json& report);

}  // namespace dpforge::report
