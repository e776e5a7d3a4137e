// Trains a small CNN (conv 1->16 3x3, batch norm, relu, maxpool 2, conv 16->32 3x3, batch norm,
// relu, maxpool 2, linear 1568->10; Adam, learning rate x0.4 each epoch) on Fashion-MNIST,
// reports test accuracy and saves the trained state as safetensors. Convolutions are im2col
// views plus one matmul each; a training step is one compiled program, reused every step.
//
//   cnn_fashion_mnist [--epochs N] [--batch N] [--lr X] [--decay X] [--steps N]
//                     [--csv FILE] [--svg FILE] [--save FILE]
//
// --steps stops each epoch after N steps (for quick profiling with KILN_PROFILE=1).
#include "train_loop.h"

#include <kiln/kiln.h>

#include <chrono>
#include <fmt/format.h>

namespace nn = kiln::nn;
using kiln::Tensor;

namespace {

// conv 3x3 (no bias: batch norm follows), batch norm, relu, maxpool 2, twice; then linear.
std::shared_ptr<nn::Sequential> make_model() {
  auto model = std::make_shared<nn::Sequential>();
  int64_t in = 1;
  for (int64_t out : {16, 32}) {
    model->push_back(
        std::make_shared<nn::Conv2d>(in, out, 3, nn::Conv2dOptions{.padding = 1, .bias = false}));
    model->push_back(std::make_shared<nn::BatchNorm2d>(out));
    model->push_back(std::make_shared<nn::ReLU>());
    model->push_back(std::make_shared<nn::MaxPool2d>(2));
    in = out;
  }
  model->push_back(std::make_shared<nn::Flatten>());
  model->push_back(std::make_shared<nn::Linear>(32 * 7 * 7, 10));
  return model;
}

} // namespace

int main(int argc, char** argv) {
  int epochs = 3;
  int64_t batch = 64, max_steps = -1;
  double lr = 2e-3, decay = 0.4;
  std::string csv = "cnn_fashion_mnist.csv", svg = "cnn_fashion_mnist.svg",
              save = "cnn_fashion_mnist.safetensors";
  try {
    sample::parse_flags(argc, argv,
                        {{"--epochs", &epochs},
                         {"--batch", &batch},
                         {"--lr", &lr},
                         {"--steps", &max_steps},
                         {"--save", &save},
                         {"--decay", &decay},
                         {"--csv", &csv},
                         {"--svg", &svg}});
    kiln::manual_seed(0);
    auto train = kiln::data::fashion_mnist(true, /*flatten=*/false);
    auto test = kiln::data::fashion_mnist(false, /*flatten=*/false);
    auto model = make_model();
    kiln::optim::Adam opt(model->parameters(), {.lr = lr});
    // The last batch of an epoch is smaller (kept, as PyTorch does): its step compiles a second
    // program, once; every other step reuses the first.
    kiln::data::DataLoader loader(train, batch, /*shuffle=*/true, /*seed=*/0);
    std::vector<sample::EpochRecord> log;
    auto start = std::chrono::steady_clock::now();
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      if (epoch > 1) opt.set_lr(opt.lr() * decay); // a kernel parameter: nothing recompiles
      sample::EpochRecord r =
          sample::train_epoch(*model, opt, loader, epoch, epochs, {}, max_steps);
      r.test_acc = sample::accuracy(*model, test, 500);
      fmt::print("  test acc {:.2f}%  ({:.1f} s, {} programs compiled by the steps)\n",
                 100 * r.test_acc, r.seconds, r.programs_compiled);
      log.push_back(r);
    }
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("final test accuracy: {:.2f}% in {:.1f} s\n{}\n", 100 * log.back().test_acc, total,
               kiln::stats().str());
    sample::write_csv(csv, log);
    sample::write_svg(svg, "kiln CNN on Fashion-MNIST", log);
    kiln::io::save_state(*model, save); // weights and batch-norm statistics, by dotted name
    fmt::print("wrote {}, {} and {}\n", csv, svg, save);
  } catch (const std::exception& e) { // kiln::Error, or a bad flag
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
