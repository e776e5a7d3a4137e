// Trains an MLP (784-512-256-10, ReLU, Adam) on Fashion-MNIST and reports test accuracy.
// Each training step (forward, backward, Adam update) is one compiled program, reused every step.
//
//   mlp_fashion_mnist [--epochs N] [--batch N] [--lr X] [--csv FILE] [--svg FILE]
#include "train_loop.h"

#include <kiln/kiln.h>

#include <cmath>
#include <fmt/format.h>

using kiln::Tensor;

namespace {

// Fashion-MNIST's pixel mean and deviation: centred inputs train faster.
Tensor normalize(const Tensor& x) { return (x - 0.2860) / 0.3530; }

} // namespace

int main(int argc, char** argv) {
  int epochs = 3;
  int64_t batch = 128;
  double lr = 1e-3;
  std::string csv = "mlp_fashion_mnist.csv", svg = "mlp_fashion_mnist.svg";
  try {
    sample::parse_flags(argc, argv,
                        {{"--epochs", &epochs},
                         {"--batch", &batch},
                         {"--lr", &lr},
                         {"--csv", &csv},
                         {"--svg", &svg}});
    kiln::manual_seed(0);
    auto train = kiln::data::fashion_mnist(true), test = kiln::data::fashion_mnist(false);
    auto model = std::make_shared<kiln::nn::Sequential>(
        std::initializer_list<std::shared_ptr<kiln::nn::Module>>{
            std::make_shared<kiln::nn::Linear>(784, 512), std::make_shared<kiln::nn::ReLU>(),
            std::make_shared<kiln::nn::Linear>(512, 256), std::make_shared<kiln::nn::ReLU>(),
            std::make_shared<kiln::nn::Linear>(256, 10)});
    kiln::optim::Adam opt(model->parameters(), {.lr = lr});
    // The last batch of an epoch is smaller (kept, as PyTorch does): its step compiles a second
    // program, once; every other step reuses the first.
    kiln::data::DataLoader loader(train, batch, /*shuffle=*/true, /*seed=*/0);
    std::vector<sample::EpochRecord> log;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      // Halve the learning rate every epoch: it is a kernel parameter, so nothing recompiles.
      opt.set_lr(lr * std::pow(0.5, epoch - 1));
      sample::EpochRecord r = sample::train_epoch(*model, opt, loader, epoch, epochs, normalize);
      r.test_acc = sample::accuracy(*model, test, 1000, normalize);
      fmt::print("  test acc {:.2f}%  ({:.1f} s, {} programs compiled by the steps)\n",
                 100 * r.test_acc, r.seconds, r.programs_compiled);
      log.push_back(r);
    }
    fmt::print("final test accuracy: {:.2f}%\n{}\n", 100 * log.back().test_acc,
               kiln::stats().str());
    sample::write_csv(csv, log);
    sample::write_svg(svg, "kiln MLP on Fashion-MNIST", log);
    fmt::print("wrote {} and {}\n", csv, svg);
  } catch (const std::exception& e) { // kiln::Error, or a bad flag
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
