#include "train_loop.h"

#include <chrono>

namespace sample {

using kiln::Tensor;

EpochRecord train_epoch(kiln::nn::Module& model, kiln::optim::Optimizer& opt, kiln::data::DataLoader& loader,
                        int epoch, int epochs, const Prepare& prepare, int64_t max_steps) {
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  loader.reset();
  double loss_sum = 0, correct = 0;
  int64_t step = 0, seen = 0;
  Tensor x, y;
  while (step != max_steps && loader.next(x, y)) {
    Tensor logits = model(prepare ? prepare(x) : x);
    Tensor loss = kiln::nn::functional::cross_entropy(logits, y);
    Tensor hits = (logits.argmax(1) == y).sum();
    loss.backward();
    opt.step({hits}); // one program: the update, the loss backward() ran from, and hits
    opt.zero_grad();
    loss_sum += loss.item<float>();
    correct += hits.item<double>();
    seen += y.numel();
    ++step;
    if (step % 20 == 0 || step == loader.batches())
      progress(epoch, epochs, step, loader.batches(), loss_sum / step, correct / seen, seen / seconds());
  }
  return {epoch, loss_sum / std::max<int64_t>(step, 1), correct / std::max<int64_t>(seen, 1), 0, seconds()};
}

double accuracy(kiln::nn::Module& model, const kiln::data::Dataset& data, int64_t batch, const Prepare& prepare) {
  kiln::NoGradGuard no_grad;
  model.eval();
  kiln::data::DataLoader loader(data, batch, /*shuffle=*/false);
  double correct = 0;
  Tensor x, y;
  while (loader.next(x, y)) correct += (model(prepare ? prepare(x) : x).argmax(1) == y).sum().item<double>();
  model.train();
  return correct / data.size();
}

} // namespace sample
