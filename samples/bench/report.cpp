#include "report.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/os.h>

namespace bench {

void print_table(const Limits& lim, const std::vector<Row>& rows) {
  fmt::print("kiln bench_fusion: {} threads, median of {} runs, fused and unfused interleaved\n"
             "host: {}\n",
             lim.threads, lim.reps, lim.host);
  fmt::print(
      "probes at the start: copy {:.1f} GB/s, triad {:.1f} GB/s, read {:.1f} GB/s, FMA peak "
      "{:.0f} GFLOP/s, OpenBLAS sgemm 1024^3 {:.0f} GFLOP/s ({:.0f}% of peak; OpenBLAS core {})\n"
      "limit of each row: the median of the copy (memory-bound rows) or sgemm (compute-bound rows) "
      "run between that workload's runs, with the row's thread count\n\n",
      lim.copy_gbs, lim.triad_gbs, lim.read_gbs, lim.fma_peak_gflops, lim.sgemm_gflops,
      100 * lim.sgemm_gflops / lim.fma_peak_gflops, lim.sgemm_core);
  fmt::print("{:<10} {:<28} {:<8} {:>9} {:>8} {:>10} {:>10} {:>13} {:>8} {:>8} {:>8}\n", "id",
             "workload", "mode", "ms", "kernels", "cold ms", "warm ms", "achieved", "limit",
             "% limit", "speedup");
  for (const Row& r : rows)
    fmt::print("{:<10} {:<28} {:<8} {:>9.2f} {:>8.0f} {:>10.1f} {:>10.1f} {:>8.1f} {:<4} {:>8.1f} "
               "{:>7.0f}% "
               "{:>8}\n",
               r.id, r.what, r.mode, r.ms, r.kernels, r.compile_cold_ms, r.compile_warm_ms,
               r.achieved, r.unit, r.limit, 100 * r.achieved / r.limit,
               r.speedup > 0 ? fmt::format("{:.1f}x", r.speedup) : "");
}

void write_json(const std::string& path, const Limits& lim, const std::vector<Row>& rows) {
  auto out = fmt::output_file(path);
  out.print("{{\n  \"threads\": {}, \"reps\": {},\n", lim.threads, lim.reps);
  out.print("  \"limits\": {{\"copy_gbs\": {:.3f}, \"triad_gbs\": {:.3f}, \"read_gbs\": {:.3f}, "
            "\"sgemm_gflops\": {:.3f}, \"fma_peak_gflops\": {:.3f}}},\n",
            lim.copy_gbs, lim.triad_gbs, lim.read_gbs, lim.sgemm_gflops, lim.fma_peak_gflops);
  out.print("  \"host\": \"{}\", \"sgemm_core\": \"{}\",\n", lim.host, lim.sgemm_core);
  out.print("  \"rows\": [\n");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out.print("    {{\"id\": \"{}\", \"workload\": \"{}\", \"mode\": \"{}\", \"ms\": {:.4f}, "
              "\"kernels\": {:.1f}, "
              "\"compile_cold_ms\": {:.3f}, \"compile_warm_ms\": {:.3f}, \"achieved\": {:.3f}, "
              "\"unit\": \"{}\", "
              "\"limit\": {:.3f}, \"speedup\": {:.3f}}}{}\n",
              r.id, r.what, r.mode, r.ms, r.kernels, r.compile_cold_ms, r.compile_warm_ms,
              r.achieved, r.unit, r.limit, r.speedup, i + 1 < rows.size() ? "," : "");
  }
  out.print("  ]\n}}\n");
}

void write_csv(const std::string& path, const std::vector<Row>& rows) {
  auto out = fmt::output_file(path);
  out.print(
      "id,workload,mode,ms,kernels,compile_cold_ms,compile_warm_ms,achieved,unit,limit,speedup\n");
  for (const Row& r : rows)
    out.print("{},\"{}\",{},{:.4f},{:.1f},{:.3f},{:.3f},{:.3f},{},{:.3f},{:.3f}\n", r.id, r.what,
              r.mode, r.ms, r.kernels, r.compile_cold_ms, r.compile_warm_ms, r.achieved, r.unit,
              r.limit, r.speedup);
}

// Grouped bars: per workload, fused and unfused as a percentage of the measured limit.
void write_svg(const std::string& path, const std::vector<Row>& rows) {
  std::vector<std::string> ids;
  for (const Row& r : rows)
    if (std::find(ids.begin(), ids.end(), r.id) == ids.end()) ids.push_back(r.id);
  const int group = 90, bar = 32, height = 260, top = 40, left = 50;
  int width = left + static_cast<int>(ids.size()) * group + 140;
  auto out = fmt::output_file(path);
  out.print("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
            "font-family=\"sans-serif\" "
            "font-size=\"11\">\n",
            width, height + top + 50);
  out.print("<text x=\"{}\" y=\"20\" font-size=\"14\">kiln: fused vs unfused, % of the limit "
            "measured in the same "
            "run</text>\n",
            left);
  for (int pct = 0; pct <= 100; pct += 25) {
    int y = top + height - pct * height / 100;
    out.print("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"5\" "
              "y=\"{}\">{}%</text>\n",
              left, width - 140, y, y, y + 4, pct);
  }
  for (size_t g = 0; g < ids.size(); ++g) {
    int x0 = left + static_cast<int>(g) * group + 10;
    for (const Row& r : rows) {
      if (r.id != ids[g]) continue;
      bool fused = r.mode == "fused";
      double pct = std::min(1.2, r.achieved / r.limit);
      int h = static_cast<int>(pct * height);
      int x = x0 + (fused ? 0 : bar);
      out.print("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{} {}: "
                "{:.2f} ms</title></rect>\n",
                x, top + height - h, bar - 4, h, fused ? "#d9480f" : "#868e96", r.id, r.mode, r.ms);
    }
    out.print("<text x=\"{}\" y=\"{}\">{}</text>\n", x0 + 14, top + height + 16, ids[g]);
  }
  int lx = width - 130;
  out.print("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#d9480f\"/><text x=\"{}\" "
            "y=\"{}\">fused</text>\n",
            lx, top, lx + 16, top + 10);
  out.print("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"#868e96\"/><text x=\"{}\" "
            "y=\"{}\">unfused (one "
            "kernel per op)</text>\n",
            lx, top + 18, lx + 16, top + 28);
  out.print("</svg>\n");
}

} // namespace bench
