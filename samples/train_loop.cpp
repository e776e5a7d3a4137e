#include "train_loop.h"

#include <chrono>
#include <stdexcept>
#include <type_traits>

namespace sample {

using kiln::Tensor;

EpochRecord train_epoch(kiln::nn::Module& model, kiln::optim::Optimizer& opt,
                        kiln::data::DataLoader& loader, int epoch, int epochs,
                        const Prepare& prepare, int64_t max_steps) {
  auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  loader.reset();
  int64_t compiled_before = kiln::stats().programs_compiled;
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
      progress(epoch, epochs, step, loader.batches(), loss_sum / step, correct / seen,
               seen / seconds());
  }
  return {epoch,
          loss_sum / std::max<int64_t>(step, 1),
          correct / std::max<int64_t>(seen, 1),
          0,
          seconds(),
          kiln::stats().programs_compiled - compiled_before};
}

void parse_flags(int argc, char** argv, const std::map<std::string, Flag>& flags) {
  for (int i = 1; i < argc; i += 2) {
    auto it = flags.find(argv[i]);
    if (it == flags.end()) throw std::runtime_error(std::string("unknown flag ") + argv[i]);
    if (i + 1 >= argc) throw std::runtime_error(std::string("missing value after ") + argv[i]);
    std::string v = argv[i + 1];
    std::visit(
        [&](auto* target) {
          using T = std::remove_pointer_t<decltype(target)>;
          if constexpr (std::is_same_v<T, std::string>)
            *target = v;
          else if constexpr (std::is_same_v<T, double>)
            *target = std::stod(v);
          else
            *target = static_cast<T>(std::stoll(v));
        },
        it->second);
  }
}

double accuracy(kiln::nn::Module& model, const kiln::data::Dataset& data, int64_t batch,
                const Prepare& prepare) {
  kiln::NoGradGuard no_grad;
  model.eval();
  kiln::data::DataLoader loader(data, batch, /*shuffle=*/false);
  double correct = 0;
  Tensor x, y;
  while (loader.next(x, y))
    correct += (model(prepare ? prepare(x) : x).argmax(1) == y).sum().item<double>();
  model.train();
  return correct / data.size();
}

} // namespace sample
