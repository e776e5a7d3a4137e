// bench_fusion's result table and its outputs: console table, JSON, CSV and an SVG bar chart.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

namespace bench {

struct Row {
  std::string id, what, mode; // mode: "fused" / "unfused"
  double ms = 0;              // median per iteration
  double kernels = 0;         // launched per iteration
  double compile_cold_ms = 0; // first trace: passes + codegen (0 on a disk-cache hit)
  double compile_warm_ms = 0; // second trace of the same step (program cache: 0)
  double achieved = 0;        // GB/s or GFLOP/s
  std::string unit;           // "GB/s" or "GFLOP/s"
  double limit = 0;           // the physical limit measured in this run, same unit
  double speedup = 0;         // unfused ms / fused ms (fused rows)
};

struct Limits {
  double copy_gbs = 0, triad_gbs = 0, read_gbs = 0, sgemm_gflops = 0, fma_peak_gflops = 0;
  int threads = 1, reps = 0;
  std::string host, sgemm_core; // sgemm_core: the OpenBLAS kernels the sgemm probe ran
};

void print_table(const Limits& lim, const std::vector<Row>& rows);
void write_json(const std::string& path, const Limits& lim, const std::vector<Row>& rows);
void write_csv(const std::string& path, const std::vector<Row>& rows);
void write_svg(const std::string& path, const std::vector<Row>& rows);

} // namespace bench
