// Trains a small decoder-only transformer (GPT-style: token and position embeddings, pre-LayerNorm
// blocks of causal multi-head self-attention and a GELU MLP) on the text of the Debian package
// fortunes, one byte per token, then samples text from it. Each training step (forward, backward,
// gradient clipping, AdamW update under a warm-up + cosine schedule) is one compiled program.
//
//   char_transformer [--iters N] [--batch N] [--context N] [--width N] [--layers N] [--heads N]
//                    [--lr X] [--warmup N] [--clip X] [--eval-every N] [--eval-batches N]
//                    [--generate N] [--prompt S] [--temperature X] [--top-k N] [--seed N]
//                    [--data DIR] [--out FILE]
#include "train_loop.h"

#include <kiln/kiln.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <numeric>

using kiln::Tensor;
namespace nn = kiln::nn;

namespace {

constexpr int64_t kVocab = 256; // bytes

// Every fortune file of the package (the plain text files; not the .dat indexes or .u8 links),
// concatenated in name order.
std::string read_fortunes(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir))
    for (auto& e : std::filesystem::directory_iterator(dir))
      if (e.is_regular_file() && !e.is_symlink() && !e.path().has_extension())
        files.push_back(e.path());
  if (files.empty())
    throw kiln::Error("[char_transformer] no fortune files under " + dir +
                      ": install the Debian package fortunes (apt-get install fortunes)");
  std::sort(files.begin(), files.end());
  std::string text;
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return text;
}

// `batch` random windows of `context` bytes as inputs [batch, context] and the bytes that follow
// each position as targets [batch * context] (flat, as cross_entropy takes them).
std::pair<Tensor, Tensor> sample_batch(const std::string& text, int64_t batch, int64_t context,
                                       kiln::Generator& gen) {
  std::vector<int64_t> x(batch * context), y(batch * context);
  for (int64_t b = 0; b < batch; ++b) {
    auto start = static_cast<int64_t>(gen.next() % (text.size() - context));
    for (int64_t t = 0; t < context; ++t) {
      x[b * context + t] = static_cast<uint8_t>(text[start + t]);
      y[b * context + t] = static_cast<uint8_t>(text[start + t + 1]);
    }
  }
  return {kiln::tensor(x, kiln::Shape{batch, context}), kiln::tensor(y)};
}

// x + attention(ln1(x)), then + mlp(ln2(x)).
class Block : public nn::Module {
public:
  Block(int64_t width, int64_t heads) {
    ln1 = register_module("ln1", std::make_shared<nn::LayerNorm>(kiln::Shape{width}));
    attn = register_module("attn", std::make_shared<nn::MultiheadAttention>(width, heads));
    ln2 = register_module("ln2", std::make_shared<nn::LayerNorm>(kiln::Shape{width}));
    fc = register_module("fc", std::make_shared<nn::Linear>(width, 4 * width));
    proj = register_module("proj", std::make_shared<nn::Linear>(4 * width, width));
  }
  Tensor forward(const Tensor& x, kiln::Loc loc) override {
    Tensor h = (*ln1)(x, loc);
    Tensor y = x + attn->forward(h, h, h, {.causal = true}, loc);
    return y + (*proj)((*fc)((*ln2)(y, loc), loc).gelu("tanh", loc), loc);
  }

private:
  std::shared_ptr<nn::LayerNorm> ln1, ln2;
  std::shared_ptr<nn::MultiheadAttention> attn;
  std::shared_ptr<nn::Linear> fc, proj;
};

// Tokens [batch, context] -> logits [batch, context, 256].
class CharTransformer : public nn::Module {
public:
  CharTransformer(int64_t context, int64_t width, int64_t layers, int64_t heads) {
    token = register_module("token", std::make_shared<nn::Embedding>(kVocab, width));
    position = register_module("position", std::make_shared<nn::Embedding>(context, width));
    for (int64_t i = 0; i < layers; ++i)
      blocks.push_back(
          register_module("block" + std::to_string(i), std::make_shared<Block>(width, heads)));
    ln_f = register_module("ln_f", std::make_shared<nn::LayerNorm>(kiln::Shape{width}));
    head = register_module("head", std::make_shared<nn::Linear>(width, kVocab));
  }
  // Tokens [batch, t] with t up to the context (generation's grows). The positions 0..t-1 are
  // data, as the tokens are, so that every length has one graph: a slice of the position table
  // would vanish at the full context (another graph, another program to compile).
  Tensor forward(const Tensor& tokens, kiln::Loc loc) override {
    std::vector<int64_t> positions(static_cast<size_t>(tokens.shape()[1]));
    std::iota(positions.begin(), positions.end(), 0);
    Tensor x = (*token)(tokens, loc) + (*position)(kiln::tensor(positions), loc);
    for (auto& b : blocks) x = (*b)(x, loc);
    return (*head)((*ln_f)(x, loc), loc);
  }

private:
  std::shared_ptr<nn::Embedding> token, position;
  std::vector<std::shared_ptr<Block>> blocks;
  std::shared_ptr<nn::LayerNorm> ln_f;
  std::shared_ptr<nn::Linear> head;
};

Tensor loss_of(CharTransformer& model, const Tensor& x, const Tensor& y) {
  return nn::functional::cross_entropy(model(x).reshape({y.numel(), kVocab}), y);
}

// Mean loss over `batches` batches of `text`, drawn from a fixed seed so that every evaluation
// sees the same windows.
double evaluate(CharTransformer& model, const std::string& text, int64_t batches, int64_t batch,
                int64_t context) {
  kiln::NoGradGuard no_grad;
  kiln::Generator gen(1234);
  double sum = 0;
  for (int64_t i = 0; i < batches; ++i) {
    auto [x, y] = sample_batch(text, batch, context, gen);
    sum += loss_of(model, x, y).item<double>();
  }
  return sum / static_cast<double>(batches);
}

// Samples `count` bytes after `prompt`, one at a time: the logits of the last position, divided
// by the temperature, restricted to the top_k most likely bytes. The model sees the last
// min(tokens, context) tokens, a window that grows to the context: its length is marked dynamic,
// so its program compiles once and runs for every length (README, "Sizes that change").
std::string generate(CharTransformer& model, const std::string& prompt, int64_t count,
                     int64_t context, double temperature, int64_t top_k, kiln::Generator& gen) {
  kiln::NoGradGuard no_grad;
  std::vector<int64_t> tokens;
  for (char c : prompt) tokens.push_back(static_cast<uint8_t>(c));
  std::string out;
  for (int64_t i = 0; i < count; ++i) {
    auto t = static_cast<int64_t>(std::min<size_t>(tokens.size(), context));
    std::vector<int64_t> window(tokens.end() - t, tokens.end());
    Tensor context = kiln::tensor(window, kiln::Shape{1, t});
    kiln::mark_dynamic(context, 1); // one program for every length, from the first
    Tensor logits = model(context).reshape({t, kVocab});
    Tensor last = logits.slice(0, t - 1, t) / temperature;
    auto [top, index] = kiln::topk(last, top_k);
    int64_t pick = kiln::multinomial(nn::functional::softmax(top), 1, false, &gen).item<int64_t>();
    tokens.push_back(index.to_vector<int64_t>()[pick]);
    out.push_back(static_cast<char>(tokens.back()));
  }
  return out;
}

} // namespace

int main(int argc, char** argv) {
  int64_t iters = 2000, batch = 12, context = 64, width = 128, layers = 4, heads = 4;
  int64_t warmup = 100, eval_every = 250, eval_batches = 50, count = 500, top_k = 40, seed = 0;
  double lr = 1e-3, clip = 1.0, temperature = 0.8;
  std::string prompt = "The meaning of life is", data = "/usr/share/games/fortunes",
              out = "char_transformer.safetensors";
  try {
    sample::parse_flags(argc, argv,
                        {{"--iters", &iters},
                         {"--batch", &batch},
                         {"--context", &context},
                         {"--width", &width},
                         {"--layers", &layers},
                         {"--heads", &heads},
                         {"--lr", &lr},
                         {"--warmup", &warmup},
                         {"--clip", &clip},
                         {"--eval-every", &eval_every},
                         {"--eval-batches", &eval_batches},
                         {"--generate", &count},
                         {"--prompt", &prompt},
                         {"--temperature", &temperature},
                         {"--top-k", &top_k},
                         {"--seed", &seed},
                         {"--data", &data},
                         {"--out", &out}});
    if (iters <= warmup) throw std::runtime_error("--iters must exceed --warmup");
    if (prompt.empty()) throw std::runtime_error("--prompt must not be empty");
    auto start = std::chrono::steady_clock::now();
    auto since = [](auto t0) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    std::string text = read_fortunes(data);
    auto split = static_cast<size_t>(0.9 * static_cast<double>(text.size()));
    std::string train = text.substr(0, split), val = text.substr(split);
    fmt::print("{} bytes of fortunes: {} to train on, {} to validate\n", text.size(), train.size(),
               val.size());

    kiln::manual_seed(static_cast<uint64_t>(seed));
    CharTransformer model(context, width, layers, heads);
    std::vector<Tensor> params = model.parameters();
    int64_t n_params = 0;
    for (auto& p : params) n_params += p.numel();
    fmt::print("model: {} layers, {} heads, width {}, context {}: {} parameters\n", layers, heads,
               width, context, n_params);
    kiln::optim::AdamW opt(params, {.lr = lr, .weight_decay = 0.01});
    // Linear warm-up, then cosine decay to lr / 10; the lr is a kernel parameter of the step.
    kiln::optim::SequentialLR schedule(
        opt,
        {std::make_shared<kiln::optim::LinearLR>(opt, 1.0 / static_cast<double>(warmup), 1.0,
                                                 warmup),
         std::make_shared<kiln::optim::CosineAnnealingLR>(opt, iters - warmup, lr / 10)},
        {warmup});

    kiln::Generator gen(static_cast<uint64_t>(seed) + 1);
    double loss_avg = 0, val_loss = 0;
    auto train_start = std::chrono::steady_clock::now();
    auto steady_start = train_start; // from the second step on: compiled
    int64_t compiled_before = kiln::stats().programs_compiled;
    for (int64_t it = 1; it <= iters; ++it) {
      if (it == 2) steady_start = std::chrono::steady_clock::now();
      auto [x, y] = sample_batch(train, batch, context, gen);
      Tensor loss = loss_of(model, x, y);
      loss.backward();
      // The global norm and the clipped gradients are computed inside the step's program.
      nn::utils::clip_grad_norm_(params, clip);
      opt.step();
      opt.zero_grad();
      schedule.step();
      double l = loss.item<double>();
      loss_avg = it == 1 ? l : 0.95 * loss_avg + 0.05 * l;
      double ms = it > 1 ? 1000 * since(steady_start) / static_cast<double>(it - 1) : 0;
      if (it % 10 == 0 || it == iters)
        sample::progress_bar("train", it, iters,
                             fmt::format("loss {:.4f} lr {:.2e} {:6.1f} ms/it {:6.0f} tok/s",
                                         loss_avg, opt.lr(), ms,
                                         ms > 0 ? 1000 * batch * context / ms : 0.0));
      if (it % eval_every == 0 || it == iters) {
        auto eval_start = std::chrono::steady_clock::now();
        val_loss = evaluate(model, val, eval_batches, batch, context);
        steady_start += std::chrono::steady_clock::now() - eval_start; // not training time
        fmt::print("\n  iteration {}: train loss {:.4f}, validation loss {:.4f}\n", it, loss_avg,
                   val_loss);
      }
    }
    double train_s = since(train_start);
    double ms = 1000 * since(steady_start) / static_cast<double>(iters - 1);
    fmt::print("trained {} iterations in {:.1f} s: {:.1f} ms per iteration after the first "
               "(compiles), {:.0f} tokens/s; {} programs compiled\n",
               iters, train_s, ms, 1000 * batch * context / ms,
               kiln::stats().programs_compiled - compiled_before);

    kiln::io::save_state(model, out);
    fmt::print("saved {}\n", out);

    auto before = kiln::stats();
    std::string sample = generate(model, prompt, count, context, temperature, top_k, gen);
    fmt::print("--- {} characters at temperature {}, top-k {} ---\n{}{}\n---\n", count, temperature,
               top_k, prompt, sample);
    fmt::print("generation compiled {} programs and ran {} at a new length without compiling\n",
               kiln::stats().programs_compiled - before.programs_compiled,
               kiln::stats().programs_resized - before.programs_resized);
    fmt::print("final validation loss {:.4f} nats/char; total {:.1f} s\n{}\n", val_loss,
               since(start), kiln::stats().str());
  } catch (const std::exception& e) { // kiln::Error, or a bad flag
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
