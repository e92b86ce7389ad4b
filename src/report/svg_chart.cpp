// SPDX-License-Identifier: Apache-2.0
#include "dpforge/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dpforge::report {
namespace {

constexpr double kWidth = 560, kHeight = 380, kLeft = 64, kRight = 16, kTop = 30, kBottom = 48;
constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                   "#9467bd", "#8c564b", "#e377c2"};

struct Axis {
  bool log;
  double lo, hi;
  double map(double value, double from, double to) const {
    const double t = log ? (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                         : (value - lo) / (hi - lo);
    return from + t * (to - from);
  }
  std::vector<double> ticks() const {
    std::vector<double> out;
    if (log) {
      for (double p = std::floor(std::log10(lo)); p <= std::ceil(std::log10(hi)); ++p) {
        const double v = std::pow(10.0, p);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
      return out;
    }
    const double raw = (hi - lo) / 5, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / magnitude < 2   ? 2 * magnitude
                        : raw / magnitude < 5 ? 5 * magnitude
                                              : 10 * magnitude;
    for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push_back(v);
    return out;
  }
};

Axis make_axis(bool log, double lo, double hi, const std::vector<double>& values) {
  if (lo >= hi) {
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (double v : values) {
      if (log && v <= 0) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (!std::isfinite(lo)) lo = log ? 1e-3 : 0, hi = 1;
    if (lo == hi) hi = log ? lo * 10 : lo + 1;
    if (!log && lo > 0 && lo < 0.5 * hi) lo = 0;
  }
  return Axis{log, lo, hi};
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string line_chart(const std::vector<Series>& series, const ChartOptions& options) {
  std::vector<double> xs, ys;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) xs.push_back(x), ys.push_back(y);
  }
  const Axis x_axis = make_axis(options.log_x, options.x_lo, options.x_hi, xs);
  const Axis y_axis = make_axis(options.log_y, options.y_lo, options.y_hi, ys);
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = kHeight - kBottom, y1 = kTop;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<title>{}</title>\n"
      "<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">{}</text>\n",
      kWidth, kHeight, kWidth, kHeight, html_escape(options.title), (x0 + x1) / 2,
      html_escape(options.title));
  auto tick_label = [](double v, bool log) {
    return log ? fmt::format("{:g}", v) : fmt::format("{:.4g}", v);
  };
  for (double t : x_axis.ticks()) {
    const double x = x_axis.map(t, x0, x1);
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#ddd\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x, y0, y1, y0 + 15, tick_label(t, x_axis.log));
  }
  for (double t : y_axis.ticks()) {
    const double y = y_axis.map(t, y0, y1);
    svg += fmt::format(
        "<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        x0, y, x1, x0 - 5, y + 4, tick_label(t, y_axis.log));
  }
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", x0,
      y1, x1 - x0, y0 - y1);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2,
                     kHeight - 10, html_escape(options.x_label));
  svg += fmt::format(
      "<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      (y0 + y1) / 2, html_escape(options.y_label));
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::string path;
    for (const auto& [x, y] : series[i].points) {
      if ((x_axis.log && x <= 0) || (y_axis.log && y <= 0)) continue;
      const double cx = std::clamp(x_axis.map(x, x0, x1), x0, x1),
                   cy = std::clamp(y_axis.map(y, y0, y1), y1, y0);
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", cx, cy);
    }
    if (!path.empty()) {
      svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{}/>\n",
                         path, color, series[i].dashed ? " stroke-dasharray=\"5,4\"" : "");
    }
    const double ly = y1 + 14 + 14 * static_cast<double>(i);
    svg += fmt::format(
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"{}/>"
        "<text x=\"{}\" y=\"{}\">{}</text>\n",
        x0 + 8, ly - 4, x0 + 26, ly - 4, color, series[i].dashed ? " stroke-dasharray=\"4,3\"" : "",
        x0 + 30, ly, html_escape(series[i].label));
  }
  return svg + "</svg>\n";
}

}  // namespace dpforge::report
