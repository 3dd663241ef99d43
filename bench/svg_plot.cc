// SVG line chart: axes with ticks, one polyline and markers per series, a legend.
#include "bench/svg_plot.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace jamba::bench {

std::string RenderLinePlot(const std::vector<PlotSeries>& series, const PlotOptions& options) {
  constexpr double kWidth = 760, kHeight = 460, kLeft = 80, kRight = 30, kTop = 50, kBottom = 70;
  double x_min = 1e300, x_max = -1e300, y_max = 0;
  auto tx = [&](double x) { return options.log2_x ? std::log2(x) : x; };
  for (const PlotSeries& s : series) {
    for (const auto& [x, y] : s.points) {
      x_min = std::min(x_min, tx(x));
      x_max = std::max(x_max, tx(x));
      y_max = std::max(y_max, y);
    }
  }
  if (x_max <= x_min) x_max = x_min + 1;
  if (y_max <= 0) y_max = 1;
  y_max *= 1.1;
  auto px = [&](double x) {
    return kLeft + (tx(x) - x_min) / (x_max - x_min) * (kWidth - kLeft - kRight);
  };
  auto py = [&](double y) { return kHeight - kBottom - y / y_max * (kHeight - kTop - kBottom); };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n",
      kWidth, kHeight);
  absl::StrAppend(
      &svg, absl::StrFormat(
                "<text x=\"%.0f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">%s</text>\n",
                kWidth / 2, options.title));
  // Axes.
  absl::StrAppend(
      &svg,
      absl::StrFormat("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
                      kLeft, kHeight - kBottom, kWidth - kRight, kHeight - kBottom));
  absl::StrAppend(
      &svg,
      absl::StrFormat("<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
                      kLeft, kTop, kLeft, kHeight - kBottom));
  // X ticks at the data points of the first series.
  if (!series.empty()) {
    for (const auto& [x, y] : series.front().points) {
      const std::string label =
          x >= 1024 && std::fmod(x, 1024) == 0 ? absl::StrCat(x / 1024, "K") : absl::StrCat(x);
      absl::StrAppend(
          &svg,
          absl::StrFormat("<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"black\"/>"
                          "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                          px(x), kHeight - kBottom, px(x), kHeight - kBottom + 5, px(x),
                          kHeight - kBottom + 20, label));
    }
  }
  for (int i = 0; i <= 5; ++i) {
    const double y = y_max * i / 5;
    absl::StrAppend(
        &svg,
        absl::StrFormat("<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                        "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                        kLeft, py(y), kWidth - kRight, py(y), kLeft - 6, py(y) + 4, y));
  }
  absl::StrAppend(&svg,
                  absl::StrFormat("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                                  (kLeft + kWidth - kRight) / 2, kHeight - 25, options.x_label));
  absl::StrAppend(
      &svg,
      absl::StrFormat(
          "<text transform=\"translate(20,%.0f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
          (kTop + kHeight - kBottom) / 2, options.y_label));
  for (size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& one = series[s];
    std::string points;
    for (const auto& [x, y] : one.points)
      absl::StrAppend(&points, absl::StrFormat("%.1f,%.1f ", px(x), py(y)));
    absl::StrAppend(
        &svg, absl::StrFormat(
                  "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n",
                  one.color, points));
    for (const auto& [x, y] : one.points) {
      absl::StrAppend(
          &svg, absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(x),
                                py(y), one.color));
    }
    const double ly = kTop + 10 + 18.0 * static_cast<double>(s);
    absl::StrAppend(
        &svg, absl::StrFormat("<rect x=\"%.0f\" y=\"%.0f\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                              "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                              kWidth - kRight - 260, ly, one.color, kWidth - kRight - 240, ly + 5,
                              one.name));
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace jamba::bench
