// Trains an MLP (784-512-256-10, ReLU, Adam) on Fashion-MNIST and reports test accuracy.
// Each training step (forward, backward, Adam update) is one compiled program, reused every step.
//
//   mlp_fashion_mnist [--epochs N] [--batch N] [--lr X] [--csv FILE] [--svg FILE]
#include "training_log.h"

#include <kiln/kiln.h>

#include <chrono>
#include <cmath>
#include <fmt/format.h>

namespace F = kiln::nn::functional;
using kiln::Tensor;

namespace {

// Fashion-MNIST's pixel mean and deviation: centred inputs train faster.
Tensor normalize(const Tensor& x) { return (x - 0.2860) / 0.3530; }

// Accuracy of model on a data set, in batches, without gradients.
double evaluate(kiln::nn::Module& model, const kiln::data::Dataset& data) {
  kiln::NoGradGuard no_grad;
  model.eval();
  kiln::data::DataLoader loader(data, 1000, /*shuffle=*/false);
  double correct = 0;
  Tensor x, y;
  while (loader.next(x, y)) correct += (model(normalize(x)).argmax(1) == y).sum().item<double>();
  model.train();
  return correct / data.size();
}

} // namespace

int main(int argc, char** argv) {
  int epochs = 3;
  int64_t batch = 128;
  double lr = 1e-3;
  std::string csv = "mlp_fashion_mnist.csv", svg = "mlp_fashion_mnist.svg";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--epochs")
      epochs = std::stoi(argv[i + 1]);
    else if (a == "--batch")
      batch = std::stoll(argv[i + 1]);
    else if (a == "--lr")
      lr = std::stod(argv[i + 1]);
    else if (a == "--csv")
      csv = argv[i + 1];
    else if (a == "--svg")
      svg = argv[i + 1];
  }
  try {
    kiln::manual_seed(0);
    auto train = kiln::data::fashion_mnist(true), test = kiln::data::fashion_mnist(false);
    auto model = std::make_shared<kiln::nn::Sequential>(
        std::initializer_list<std::shared_ptr<kiln::nn::Module>>{
            std::make_shared<kiln::nn::Linear>(784, 512), std::make_shared<kiln::nn::ReLU>(),
            std::make_shared<kiln::nn::Linear>(512, 256), std::make_shared<kiln::nn::ReLU>(),
            std::make_shared<kiln::nn::Linear>(256, 10)});
    kiln::optim::Adam opt(model->parameters(), {.lr = lr});
    // drop_last keeps every batch the same shape, so one program serves every step.
    kiln::data::DataLoader loader(train, batch, /*shuffle=*/true, /*seed=*/0, /*drop_last=*/true);
    std::vector<sample::EpochRecord> log;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      auto t0 = std::chrono::steady_clock::now();
      loader.reset();
      // Halve the learning rate every epoch: it is a kernel parameter, so nothing recompiles.
      opt.set_lr(lr * std::pow(0.5, epoch - 1));
      double loss_sum = 0, correct = 0;
      int64_t step = 0, seen = 0;
      Tensor x, y;
      while (loader.next(x, y)) {
        Tensor logits = (*model)(normalize(x));
        Tensor loss = F::cross_entropy(logits, y);
        Tensor hits = (logits.argmax(1) == y).sum();
        loss.backward();
        opt.step(); // computes loss and hits in the same program: this code still holds them
        opt.zero_grad();
        loss_sum += loss.item<float>();
        correct += hits.item<double>();
        seen += y.numel();
        ++step;
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (step % 20 == 0 || step == loader.batches())
          sample::progress(epoch, epochs, step, loader.batches(), loss_sum / step, correct / seen,
                           seen / secs);
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double test_acc = evaluate(*model, test);
      fmt::print("  test acc {:.2f}%  ({:.1f} s)\n", 100 * test_acc, secs);
      log.push_back({epoch, loss_sum / step, correct / seen, test_acc, secs});
    }
    fmt::print("final test accuracy: {:.2f}%\n{}\n", 100 * log.back().test_acc,
               kiln::stats().str());
    sample::write_csv(csv, log);
    sample::write_svg(svg, "kiln MLP on Fashion-MNIST", log);
    fmt::print("wrote {} and {}\n", csv, svg);
  } catch (const kiln::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
