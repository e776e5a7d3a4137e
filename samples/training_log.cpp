#include "training_log.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/os.h>

namespace sample {

void progress_bar(const std::string& prefix, int64_t step, int64_t steps,
                  const std::string& suffix) {
  const int width = 30;
  int filled = static_cast<int>(width * step / std::max<int64_t>(steps, 1));
  fmt::print("\r{} [{}{}] {:>4}/{} {}", prefix, std::string(filled, '#'),
             std::string(width - filled, '-'), step, steps, suffix);
  std::fflush(stdout);
}

void progress(int epoch, int epochs, int64_t step, int64_t steps, double loss, double acc,
              double samples_per_s) {
  progress_bar(
      fmt::format("epoch {}/{}", epoch, epochs), step, steps,
      fmt::format("loss {:.4f} acc {:5.1f}% {:>8.0f} samples/s", loss, 100 * acc, samples_per_s));
}

void write_csv(const std::string& path, const std::vector<EpochRecord>& log) {
  auto out = fmt::output_file(path);
  out.print("epoch,loss,train_accuracy,test_accuracy,seconds\n");
  for (auto& r : log)
    out.print("{},{:.6f},{:.6f},{:.6f},{:.3f}\n", r.epoch, r.loss, r.train_acc, r.test_acc,
              r.seconds);
}

void write_svg(const std::string& path, const std::string& title,
               const std::vector<EpochRecord>& log) {
  const int w = 520, h = 300, left = 60, right = 60, top = 40, bottom = 40;
  double max_loss = 0;
  for (auto& r : log) max_loss = std::max(max_loss, r.loss);
  max_loss = max_loss > 0 ? max_loss * 1.1 : 1;
  auto x = [&](int e) {
    return left + (w - left - right) * (log.size() > 1 ? double(e - 1) / (log.size() - 1) : 0.5);
  };
  auto y = [&](double v, double max) { return top + (h - top - bottom) * (1 - v / max); };
  auto line = [&](auto value, double max, const char* color) {
    std::string pts;
    for (auto& r : log) pts += fmt::format("{:.1f},{:.1f} ", x(r.epoch), y(value(r), max));
    return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n",
                       color, pts);
  };
  auto out = fmt::output_file(path);
  out.print("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
            "font-family=\"sans-serif\" "
            "font-size=\"11\">\n<text x=\"{}\" y=\"22\" font-size=\"14\">{}</text>\n",
            w, h, left, title);
  out.print("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n",
            left, top, w - left - right, h - top - bottom);
  out.print("<text x=\"5\" y=\"{}\">loss {:.2f}</text><text x=\"5\" y=\"{}\">0</text>\n", top + 4,
            max_loss, h - bottom);
  out.print("<text x=\"{}\" y=\"{}\">100%</text>\n", w - right + 5, top + 4);
  out.print("{}", line([](auto& r) { return r.loss; }, max_loss, "#d9480f"));
  out.print("{}", line([](auto& r) { return 100 * r.train_acc; }, 100, "#1c7ed6"));
  out.print("{}", line([](auto& r) { return 100 * r.test_acc; }, 100, "#2f9e44"));
  for (auto& r : log)
    out.print("<text x=\"{:.1f}\" y=\"{}\">{}</text>\n", x(r.epoch) - 3, h - bottom + 15, r.epoch);
  out.print(
      "<text x=\"{}\" y=\"{}\" fill=\"#d9480f\">loss</text><text x=\"{}\" y=\"{}\" "
      "fill=\"#1c7ed6\">train "
      "accuracy</text><text x=\"{}\" y=\"{}\" fill=\"#2f9e44\">test accuracy</text>\n</svg>\n",
      left, h - 8, left + 60, h - 8, left + 180, h - 8);
}

} // namespace sample
