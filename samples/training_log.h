// Helpers for the training samples: a progress bar, and the curve as CSV and as an SVG plot.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sample {

struct EpochRecord {
  int epoch;
  double loss, train_acc, test_acc, seconds;
  int64_t programs_compiled = 0; // by the epoch's training steps
};

// Redraws "<prefix> [#####-----] step/steps <suffix>" on one terminal line.
void progress_bar(const std::string& prefix, int64_t step, int64_t steps,
                  const std::string& suffix);
// Redraws "epoch e/E [#####-----] step/steps loss acc samples/s" on one terminal line.
void progress(int epoch, int epochs, int64_t step, int64_t steps, double loss, double acc,
              double samples_per_s);
void write_csv(const std::string& path, const std::vector<EpochRecord>& log);
// Loss (left axis) and accuracies (right axis, %) per epoch.
void write_svg(const std::string& path, const std::string& title,
               const std::vector<EpochRecord>& log);

} // namespace sample
