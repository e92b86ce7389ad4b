// SPDX-License-Identifier: Apache-2.0
// Minimal SVG line charts for the self-contained HTML report (no scripts, no external files).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace dpforge::report {

struct Series {
  std::string label;
  std::vector<std::pair<double, double>> points;
  bool dashed = false;
};

struct ChartOptions {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  /// Axis ranges; when lo >= hi they are taken from the data.
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
};

/// Text made safe inside HTML/SVG elements and attribute values.
std::string html_escape(const std::string& text);

/// An inline <svg> element; points outside a log axis's range (≤ 0) are dropped.
std::string line_chart(const std::vector<Series>& series, const ChartOptions& options);

}  // namespace dpforge::report
