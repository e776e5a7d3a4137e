// Graph size and lifetime: long lazy chains, realized nodes that let go of their inputs, and
// handles that are not bound to a tensor.
#include "test_util.h"

#include "codegen/host/allocator.h"
#include "ir/node_index.h"

using namespace kt;
using Catch::Contains;
using kiln::NodeIndex;
using kiln::NodePtr;
using kiln::Op;

TEST_CASE("a lazy chain of a million steps realizes", "[lifetime]") {
  // Before: the recursive lowering overflowed the stack past ~25,000 steps.
  Tensor x = kiln::tensor({1.f, 2.f, 3.f, 4.f});
  Tensor acc = kiln::zeros({4});
  const int steps = 1'000'000;
  for (int i = 0; i < steps; ++i) acc = acc + x * 0.5;
  // Exact in f32: every partial sum is a multiple of 0.5 below 2^24.
  REQUIRE(acc.sum().item<float>() == 0.5f * steps * 10);
}

TEST_CASE("a deep chain that requires grad differentiates and is destroyed", "[lifetime]") {
  // Realized nodes on a gradient path keep their inputs, so backward() sees all 30,000 steps;
  // the kernels it compiles are bounded in depth, and the chain is freed without recursion.
  Tensor w = kiln::tensor({0.5f, -1.5f}).requires_grad_();
  Tensor x = kiln::tensor({2.f, 3.f});
  const int steps = 30'000;
  {
    Tensor acc = w * x;
    for (int i = 1; i < steps; ++i) acc = acc + w * x;
    acc.sum().backward();
  }
  REQUIRE(w.grad().to_vector<float>() == std::vector<float>{2.f * steps, 3.f * steps});
}

TEST_CASE("a deep fused chain is split into kernels of bounded depth", "[lifetime][fusion]") {
  Tensor x = kiln::tensor({1.f, -2.f, 3.f});
  Tensor acc = x;
  for (int i = 0; i < 2000; ++i) acc = acc * 1.0001 + 0.5;
  auto before = kiln::stats().kernels_launched;
  check_close(acc.realize(), kiln::reference(acc), 1e-5, 1e-3);
  auto kernels = kiln::stats().kernels_launched - before;
  REQUIRE(kernels >= 4); // 2000 multiply-adds, at most 256 levels a kernel
  REQUIRE(kernels <= 20);
}

TEST_CASE("NodeIndex numbers nodes as first inserted and finds no other", "[lifetime]") {
  // Graph walks over millions of nodes use it in place of hash sets.
  std::vector<NodePtr> nodes;
  for (int i = 0; i < 1000; ++i) nodes.push_back(make_node(Op::Buffer, DType::F32, {1}, {}));
  NodeIndex index;
  for (int i = 0; i < 500; ++i)
    REQUIRE(index.insert(nodes[i].get()) == std::pair{uint32_t(i), true});
  REQUIRE(index.insert(nodes[7].get()) == std::pair{uint32_t(7), false});
  REQUIRE(index.size() == 500);
  for (int i = 0; i < 1000; ++i) REQUIRE(index.find(nodes[i].get()) == (i < 500 ? i : -1));
}

TEST_CASE("a loop that reassigns a realized tensor keeps flat memory", "[lifetime]") {
  // Before: each realized step kept its input alive, so every step's buffer stayed allocated.
  Tensor p = kiln::rand({1 << 20});
  p.realize();
  size_t at_step_10 = 0;
  for (int step = 1; step <= 60; ++step) {
    p = p * 0.999 + 0.001;
    p.realize();
    if (step == 10) at_step_10 = kiln::allocator_stats().bytes_in_use;
  }
  REQUIRE(kiln::allocator_stats().bytes_in_use == at_step_10);
  REQUIRE(p.node()->inputs.empty());
}

TEST_CASE("a metric accumulated lazily over training steps keeps no earlier parameters",
          "[lifetime][autodiff]") {
  // correct = correct + (out.argmax(1) == y).sum() holds every step's output (8 KiB here) until
  // it is realized; each output also kept its graph, and with it that step's weights (128 KiB
  // here, 1.6 MB a step for a 784x512 layer). backward() ran through it, so once realized it
  // lets go of them, as the loss does.
  kiln::manual_seed(5);
  kiln::nn::Linear layer(256, 128);
  kiln::optim::SGD opt(layer.parameters(), {.lr = 0.1});
  Tensor x = kiln::randn({16, 256}), y = kiln::randint(0, 128, {16});
  Tensor correct = kiln::zeros({}, DType::I64), out;
  size_t at_step_10 = 0;
  for (int step = 1; step <= 40; ++step) {
    out = layer(x);
    kiln::nn::functional::cross_entropy(out, y).backward();
    correct = correct + (out.argmax(1) == y).sum();
    opt.step();
    opt.zero_grad();
    if (step == 10) at_step_10 = kiln::allocator_stats().bytes_in_use;
  }
  CHECK(kiln::allocator_stats().bytes_in_use - at_step_10 <= 30 * out.node()->bytes());
  CHECK(out.node()->inputs.empty());
  CHECK(correct.item<int64_t>() >= 0);
  // Its graph is gone: differentiating through it again is an error, not a silent zero.
  REQUIRE_THROWS_WITH(out.sum().backward(), Contains("already ran through f32[16, 128]"));
  // A node realized before backward() keeps its graph: a second loss through it still works.
  Tensor h = layer(x);
  h.realize();
  (h * h).sum().backward();
  layer.zero_grad();
  h.sum().backward();
  check_close(layer.bias.grad(), kiln::full({128}, 16.0));
}

TEST_CASE("an undefined tensor's accessors throw kiln::Error", "[lifetime][errors]") {
  Tensor t;
  REQUIRE_FALSE(t.defined());
  REQUIRE_THROWS_WITH(t.dim(), Contains("[dim]") && Contains("undefined"));
  REQUIRE_THROWS_WITH(t.shape(), Contains("[shape]") && Contains("undefined"));
  REQUIRE_THROWS_WITH(t.dtype(), Contains("[dtype]") && Contains("undefined"));
  REQUIRE_THROWS_WITH(t.numel(), Contains("[numel]") && Contains("undefined"));
  REQUIRE_THROWS_AS(t.is_realized(), kiln::Error);
  REQUIRE_THROWS_AS(t.node(), kiln::Error);
  REQUIRE_THROWS_AS(t.size(0), kiln::Error);
  REQUIRE_THROWS_AS(t.item<float>(), kiln::Error);
  REQUIRE_THROWS_AS(t.to_vector<float>(), kiln::Error);
  REQUIRE_FALSE(t.requires_grad());
  REQUIRE(t.str() == "tensor(undefined)");
}

TEST_CASE("creation ops make leaves that can require grad", "[lifetime][autodiff]") {
  for (Tensor w : {kiln::zeros({3}), kiln::ones({3}), kiln::full({3}, 2.0), kiln::arange(0, 3)}) {
    w.requires_grad_();
    REQUIRE(w.requires_grad());
    (w * w).sum().backward();
    check_close(w.grad(), w * 2);
  }
  Tensor y = kiln::ones({2}).requires_grad_() * 3;
  REQUIRE_THROWS_WITH(y.requires_grad_(), Contains("[requires_grad_]") && Contains("leaf"));
}
