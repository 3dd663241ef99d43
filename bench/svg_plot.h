// A minimal line-chart writer (SVG), so benchmark figures can be looked at without extra tools.
#ifndef JAMBA_BENCH_SVG_PLOT_H_
#define JAMBA_BENCH_SVG_PLOT_H_

#include <string>
#include <utility>
#include <vector>

namespace jamba::bench {

struct PlotSeries {
  std::string name;
  std::string color;                              // e.g. "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (x, y)
};

struct PlotOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log2_x = false;
};

std::string RenderLinePlot(const std::vector<PlotSeries>& series, const PlotOptions& options);

}  // namespace jamba::bench

#endif  // JAMBA_BENCH_SVG_PLOT_H_
