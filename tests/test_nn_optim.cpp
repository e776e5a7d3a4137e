// kiln::optim against updates computed by hand, one program per training step, and the
// Module bookkeeping (names, buffers, train/eval, zero_grad, devices).
#include "test_util.h"

#include <cmath>
#include <functional>
#include <thread>

using namespace kt;
namespace nn = kiln::nn;
namespace optim = kiln::optim;

namespace {

void step(optim::Optimizer& opt, const Tensor& p) {
  ((p * p).sum() * 0.5).backward();
  opt.step();
  opt.zero_grad();
}

// Adam by hand on one element with gradient g = p (loss p^2 / 2); returns p after `steps`.
double adam_by_hand(double p, int steps, double lr, double wd, bool decoupled) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  double m = 0, v = 0;
  for (int t = 1; t <= steps; ++t) {
    double g = p;
    if (decoupled)
      p *= 1 - lr * wd;
    else
      g += wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
    p -= lr * mhat / (std::sqrt(vhat) + eps);
  }
  return p;
}

} // namespace

TEST_CASE("SGD updates match hand computation", "[optim]") {
  SECTION("plain") {
    Tensor p = param({1, -2});
    optim::SGD opt({p}, {.lr = 0.1});
    step(opt, p); // p - 0.1 p
    check_values(p, {0.9, -1.8}, 1e-12, 1e-12);
    step(opt, p);
    check_values(p, {0.81, -1.62}, 1e-12, 1e-12);
  }
  SECTION("momentum") {
    Tensor p = param({1, -2});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
    step(opt, p); // buf = g = [1, -2]
    check_values(p, {0.9, -1.8}, 1e-12, 1e-12);
    step(opt, p); // buf = 0.9 [1, -2] + [0.9, -1.8] = [1.8, -3.6]
    check_values(p, {0.72, -1.44}, 1e-12, 1e-12);
  }
  SECTION("momentum with dampening") {
    Tensor p = param({1, -2});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
    step(opt, p); // the first buffer is g itself, undamped (PyTorch)
    check_values(p, {0.9, -1.8}, 1e-12, 1e-12);
    step(opt, p); // buf = 0.9 [1, -2] + 0.5 [0.9, -1.8] = [1.35, -2.7]
    check_values(p, {0.765, -1.53}, 1e-12, 1e-12);
  }
  SECTION("Nesterov") {
    Tensor p = param({1, -2});
    optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
    step(opt, p); // buf = [1, -2]; g + 0.9 buf = [1.9, -3.8]
    check_values(p, {0.81, -1.62}, 1e-12, 1e-12);
    step(opt, p); // buf = [1.71, -3.42]; g + 0.9 buf = [2.349, -4.698]
    check_values(p, {0.5751, -1.1502}, 1e-12, 1e-12);
  }
  SECTION("weight decay") {
    Tensor p = param({1, -2});
    optim::SGD opt({p}, {.lr = 0.1, .weight_decay = 0.5});
    step(opt, p); // g = p + 0.5 p: p * (1 - 0.15)
    check_values(p, {0.85, -1.7}, 1e-12, 1e-12);
    step(opt, p);
    check_values(p, {0.7225, -1.445}, 1e-12, 1e-12);
  }
  CHECK_THROWS_WITH(optim::SGD({param({1})}, {.lr = 0.1, .nesterov = true}),
                    Catch::Contains("Nesterov"));
  CHECK_THROWS_WITH(optim::SGD({param({1}), kiln::tensor<double>({1})}, {}),
                    Catch::Contains("[optim] parameter 1 (f64[1]) does not require grad"));
  CHECK_THROWS_WITH(optim::SGD({Tensor()}, {}), Catch::Contains("parameter 0 is an undefined"));
  CHECK_THROWS_WITH(optim::SGD({param({1})}, {.lr = NAN}), Catch::Contains("got nan"));
  CHECK_THROWS_WITH(optim::SGD({param({1})}, {.momentum = -0.9}), Catch::Contains("[SGD]"));
  // beta2 = 1 divided by a zero bias correction: every parameter NaN after one step.
  CHECK_THROWS_WITH(optim::Adam({param({1})}, {.beta2 = 1}),
                    Catch::Contains("[Adam] beta2 must be in [0, 1), got 1"));
}

TEST_CASE("Adam and AdamW updates match hand computation", "[optim]") {
  struct Case {
    const char* name;
    double wd;
    bool decoupled;
  };
  for (auto c : {Case{"Adam", 0, false}, Case{"Adam + L2", 0.1, false}, Case{"AdamW", 0.1, true}}) {
    INFO(c.name);
    Tensor p = param({1, -2, 0.5});
    std::unique_ptr<optim::Optimizer> opt;
    if (c.decoupled)
      opt = std::make_unique<optim::AdamW>(std::vector<Tensor>{p},
                                           optim::AdamOptions{.lr = 0.1, .weight_decay = c.wd});
    else
      opt = std::make_unique<optim::Adam>(std::vector<Tensor>{p},
                                          optim::AdamOptions{.lr = 0.1, .weight_decay = c.wd});
    for (int t = 1; t <= 3; ++t) {
      step(*opt, p);
      check_values(p,
                   {adam_by_hand(1, t, 0.1, c.wd, c.decoupled),
                    adam_by_hand(-2, t, 0.1, c.wd, c.decoupled),
                    adam_by_hand(0.5, t, 0.1, c.wd, c.decoupled)},
                   1e-12, 1e-12);
    }
  }
  // The first Adam step moves every element by about lr, whatever its gradient's scale.
  Tensor q = param({1000, -0.001});
  optim::Adam adam({q}, {.lr = 0.01});
  step(adam, q);
  check_values(q, {1000 - 0.01 * 1000 / (1000 + 1e-8), -0.001 + 0.01 * 0.001 / (0.001 + 1e-8)},
               1e-12, 1e-12);
}

TEST_CASE("optimizer state and learning rate changes", "[optim]") {
  Tensor p = param({1, -2});
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  step(opt, p);
  auto st = opt.state();
  REQUIRE(st.size() == 3);
  CHECK(st[0].first == "step");
  CHECK(st[0].second.item<int64_t>() == 1);
  CHECK(st[1].first == "step.0"); // the parameter's own count
  CHECK(st[1].second.item<int64_t>() == 1);
  CHECK(st[2].first == "momentum.0");
  check_values(st[2].second, {1, -2});
  // A new learning rate is a kernel parameter: the next step compiles nothing.
  step(opt, p);
  int64_t compiled = kiln::stats().programs_compiled;
  opt.set_lr(0.05);
  step(opt, p);
  CHECK(kiln::stats().programs_compiled == compiled);
  CHECK(opt.lr() == 0.05);
  // Parameters without a gradient are left alone.
  Tensor a = param({1}), b = param({2});
  optim::SGD partial({a, b}, {.lr = 0.5});
  ((a * a).sum()).backward();
  partial.step();
  check_values(a, {0});
  check_values(b, {2});
  CHECK_THROWS_WITH(opt.load_state({{"momentum.0", kiln::zeros({3}, DType::F64)}}),
                    Catch::Contains("does not match"));
  // A buffer of another dtype would fail only at the next step's assignment.
  CHECK_THROWS_WITH(opt.load_state({{"momentum.0", kiln::zeros({2}, DType::F32)}}),
                    Catch::Contains("\"momentum.0\" f32[2] does not match") &&
                        Catch::Contains("expected f64[2]"));
}

TEST_CASE("optimizer hyperparameters PyTorch refuses are errors", "[optim][errors]") {
  using Catch::Contains;
  Tensor a = param({1, 2});
  CHECK_THROWS_WITH(optim::Adam({a}, {.beta1 = 1.5}), Contains("[Adam] beta1") && Contains("1.5"));
  CHECK_THROWS_WITH(optim::AdamW({a}, {.beta2 = 1}), Contains("beta2"));
  CHECK_THROWS_WITH(optim::Adam({a}, {.eps = -1e-8}), Contains("eps"));
  CHECK_THROWS_WITH(optim::Adam({a}, {.weight_decay = -1}), Contains("weight_decay"));
  CHECK_THROWS_WITH(optim::SGD({a}, {.lr = 0.1, .momentum = -0.9}), Contains("[SGD] momentum"));
  CHECK_THROWS_WITH(optim::SGD({a}, {.lr = std::nan("")}), Contains("learning rate"));
  CHECK_THROWS_WITH(optim::SGD({a}, {.lr = -0.5}), Contains("got -0.5"));
}

TEST_CASE("a parameter's first gradient starts its own step count, as in PyTorch", "[optim]") {
  // b gets no gradient from the first step (nor from a step with no gradients at all): its first
  // update is its own step 1, with Adam's bias corrections of step 1 and SGD's momentum buffer
  // started at its gradient.
  Tensor a = param({1}), b = param({2});
  optim::Adam adam({a, b}, {.lr = 0.1});
  adam.step(); // no gradients yet: nothing moves, nothing counts
  step(adam, a);
  step(adam, b);
  check_values(b, {adam_by_hand(2, 1, 0.1, 0, false)}, 1e-12, 1e-12);
  check_values(a, {adam_by_hand(1, 1, 0.1, 0, false)}, 1e-12, 1e-12);
  auto st = adam.state();
  CHECK(st[0].second.item<int64_t>() == 3); // step() calls
  CHECK(st[1].second.item<int64_t>() == 1); // a's updates
  CHECK(st[2].second.item<int64_t>() == 1); // b's

  // A restored state keeps the counts: b's next step is its second.
  Tensor a2 = param({1}), b2 = param({b.item<double>()});
  optim::Adam restored({a2, b2}, {.lr = 0.1});
  restored.load_state(st);
  step(restored, b2);
  step(adam, b);
  check_values(b2, {b.item<double>()}, 1e-12, 1e-12);

  Tensor c = param({1}), d = param({2});
  optim::SGD sgd({c, d}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  step(sgd, c);
  step(sgd, d); // buffer = g = 2 (undamped, its first), not 0.5 g
  check_values(d, {1.8}, 1e-12, 1e-12);
}

TEST_CASE("a parameter given to an optimizer twice is an error", "[optim]") {
  Tensor a = param({1, 2}), b = param({3});
  Tensor a_again = a; // a copy of the handle is the same parameter
  // Before: accepted, and each step updated `a` twice.
  CHECK_THAT(error_of([&] {
               optim::SGD({a, b, a_again}, {.lr = 0.1});
             }),
             Catch::Contains("[optim]") && Catch::Contains("parameter 2") &&
                 Catch::Contains("parameter 0") && Catch::Contains("f64[2]"));
  CHECK_THAT(error_of([&] { optim::Adam({b, b}, {}); }), Catch::Contains("same tensor"));
  // Equal values in distinct tensors are distinct parameters.
  Tensor c = param({1, 2});
  optim::SGD ok({a, c}, {.lr = 0.5});
  step(ok, a);
  check_values(a, {0.5, 1});
  check_values(c, {1, 2});
}

TEST_CASE("a training step compiles once over many steps, its loss in the step's program",
          "[optim][cache]") {
  kiln::manual_seed(11);
  using M = std::shared_ptr<nn::Module>;
  std::vector<std::pair<const char*, std::function<std::shared_ptr<nn::Sequential>()>>> models = {
      {"mlp",
       [] {
         return std::make_shared<nn::Sequential>(std::initializer_list<M>{
             std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 12),
             std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(12, 3)});
       }},
      {"cnn", [] {
         return std::make_shared<nn::Sequential>(std::initializer_list<M>{
             std::make_shared<nn::Conv2d>(1, 4, 3, nn::Conv2dOptions{.padding = 1}),
             std::make_shared<nn::BatchNorm2d>(4), std::make_shared<nn::ReLU>(),
             std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Dropout>(0.2, 1),
             std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 3)});
       }}};
  for (auto& [name, make] : models) {
    INFO(name);
    auto model = make();
    optim::Adam opt(model->parameters(), {.lr = 0.01});
    int64_t compiled = 0;
    double first_loss = 0, last_loss = 0;
    Tensor x = random_input({8, 1, 4, 4}, DType::F32), y = kiln::randint(0, 3, {8});
    for (int s = 0; s < 12; ++s) {
      if (s == 2) compiled = kiln::stats().programs_compiled; // from the third step on
      Tensor logits = (*model)(x);
      Tensor loss = nn::functional::cross_entropy(logits, y);
      Tensor hits = (logits.argmax(1) == y).sum();
      loss.backward();
      opt.step({hits});
      opt.zero_grad();
      // The step's program computed the loss and the metric too: reading them runs nothing.
      CHECK(loss.is_realized());
      CHECK(hits.is_realized());
      auto launched = kiln::stats().kernels_launched;
      (s == 0 ? first_loss : last_loss) = loss.item<double>();
      CHECK(kiln::stats().kernels_launched == launched);
    }
    CHECK(kiln::stats().programs_compiled == compiled);
    CHECK(last_loss < first_loss);
  }
}

TEST_CASE("an optimizer step computes the losses of its own thread only", "[optim][threads]") {
  // A loss differentiated on another thread is that thread's step's business (before: whichever
  // thread stepped next computed it, in a program of both models).
  Tensor p = param({1, 2}), q = param({3});
  Tensor other_loss;
  std::thread([&] {
    other_loss = (q * q).sum();
    other_loss.backward();
  }).join();
  optim::SGD opt({p}, {.lr = 0.5});
  Tensor loss = (p * p).sum();
  loss.backward();
  opt.step();
  CHECK(loss.is_realized());
  CHECK(!other_loss.is_realized());
  check_values(p, {0, 0});
  CHECK(other_loss.item<double>() == 9);
}

TEST_CASE("Module names, buffers, train/eval, zero_grad, devices", "[nn][module]") {
  using M = std::shared_ptr<nn::Module>;
  auto inner = std::make_shared<nn::Sequential>(std::initializer_list<M>{
      std::make_shared<nn::Conv2d>(2, 3, 1), std::make_shared<nn::BatchNorm2d>(3)});
  nn::Sequential model{inner, std::make_shared<nn::Flatten>(),
                       std::make_shared<nn::Linear>(12, 2, false)};
  auto params = model.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, t] : params) names.push_back(n);
  CHECK(names ==
        std::vector<std::string>{"0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "2.weight"});
  for (auto& [n, t] : params) {
    CHECK(t.requires_grad());
    CHECK(t.is_realized());
  }
  auto buffers = model.named_buffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].first == "0.1.running_mean");
  CHECK(!buffers[0].second.requires_grad());
  CHECK(model.named_parameters(false).empty());
  CHECK(model.parameters().size() == 5);

  CHECK(model.is_training());
  model.eval();
  CHECK(!inner->is_training());
  CHECK(!inner->children()[1].second->is_training());
  model.train();
  CHECK(inner->children()[1].second->is_training());

  Tensor loss = model(random_input({2, 2, 2, 2}, DType::F32)).sum();
  loss.backward();
  for (auto& p : model.parameters()) CHECK(p.grad().defined());
  model.zero_grad();
  for (auto& p : model.parameters()) CHECK(!p.grad().defined());

  model.to("cpu");
  CHECK_THROWS_WITH(model.to("tpu"), Catch::Contains("tpu")); // tests/test_devices.cpp moves
}

namespace {
// A user module that registers what PyTorch's register_* refuse.
struct Registering : nn::Module {
  void parameter(const std::string& name, Tensor t) { register_parameter(name, std::move(t)); }
  void buffer(const std::string& name, Tensor t) { register_buffer(name, std::move(t)); }
  void module(const std::string& name, std::shared_ptr<nn::Module> m) { register_module(name, m); }
};
} // namespace

TEST_CASE("Module registration refuses null modules and empty, dotted or repeated names",
          "[nn][module][errors]") {
  using Catch::Contains;
  Registering m;
  m.parameter("w", kiln::ones({2}));
  // Before: a null module crashed the first forward (Sequential::push_back(nullptr) too), and a
  // repeated name gave a state dictionary with the name twice.
  CHECK_THROWS_WITH(m.module("child", nullptr), Contains("[Module]") && Contains("null"));
  nn::Sequential seq;
  CHECK_THROWS_WITH(seq.push_back(nullptr), Contains("null"));
  CHECK(seq.size() == 0);
  CHECK_THROWS_WITH(m.parameter("w", kiln::ones({2})), Contains("\"w\" is already registered"));
  CHECK_THROWS_WITH(m.buffer("w", kiln::ones({2})), Contains("already registered"));
  CHECK_THROWS_WITH(m.module("w", std::make_shared<nn::ReLU>()), Contains("already registered"));
  CHECK_THROWS_WITH(m.parameter("", kiln::ones({1})), Contains("non-empty"));
  CHECK_THROWS_WITH(m.buffer("a.b", kiln::ones({1})), Contains("without '.'"));
  CHECK_THROWS_WITH(m.parameter("u", Tensor()), Contains("undefined"));
  CHECK(m.named_parameters().size() == 1);
  CHECK(m.named_buffers().empty());
}

TEST_CASE("a module used twice lists its parameters once, as PyTorch does", "[nn][module][optim]") {
  // Shared weights: one Linear applied twice. An optimizer takes model.parameters() (it refuses a
  // tensor given twice) and clip_grad_norm_ counts each gradient once; state_dict keeps both names.
  kiln::manual_seed(5);
  auto shared = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential model{shared, std::make_shared<nn::Tanh>(), shared};
  auto params = model.named_parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].first == "0.weight");
  CHECK(params[1].first == "0.bias");
  CHECK(model.named_parameters(true, /*remove_duplicate=*/false).size() == 4);
  CHECK(kiln::io::state_dict(model).size() == 4);

  optim::SGD opt(model.parameters(), {.lr = 0.5});
  model(random_input({2, 3}, DType::F32)).sum().backward();
  Tensor norm = nn::utils::clip_grad_norm_(model.parameters(), 1e9);
  std::vector<double> w = shared->weight.to_vector<double>(),
                      g = shared->weight.grad().to_vector<double>(),
                      gb = shared->bias.grad().to_vector<double>();
  double squares = 0;
  for (double v : g) squares += v * v;
  for (double v : gb) squares += v * v;
  CHECK(norm.item<double>() == Approx(std::sqrt(squares)).epsilon(1e-5));
  opt.step(); // one update of lr * g, not two
  std::vector<double> expected;
  for (size_t i = 0; i < w.size(); ++i) expected.push_back(w[i] - 0.5 * g[i]);
  check_values(shared->weight, expected, 1e-6, 1e-6);
}
