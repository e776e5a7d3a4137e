// Sizes that change without recompiling (runtime/size_family.h): a structure realized at a new
// size runs kernels compiled for every size, and gives what a concrete program gives.
#include "test_util.h"

#include <random>
#include <set>

using namespace kiln;

namespace {

// Turns dynamic sizes off (KILN_DYNAMIC=0) for its lifetime.
struct ConcreteSizes {
  bool was = options().dynamic;
  ConcreteSizes() { options().dynamic = false; }
  ~ConcreteSizes() { options().dynamic = was; }
};

// Rows of a fused elementwise chain and a softmax over them, with a mean over the batch: the
// kernels' extents, element counts and a 1/B literal all depend on the batch.
std::vector<Tensor> rows_program(const Tensor& x) {
  Tensor h = (x * 3.0f + 1.0f).relu();
  return {nn::functional::softmax(h, 1), h.mean({0})};
}

struct Counts {
  int64_t compiled, resized, kernels;
};
Counts counts() {
  auto s = stats();
  return {s.programs_compiled, s.programs_resized, s.kernels_compiled};
}

} // namespace

TEST_CASE("a structure at a new size runs kernels compiled for every size", "[dynamic]") {
  manual_seed(11);
  auto run = [](int64_t b) {
    Tensor x = randn({b, 37});
    x.realize();
    auto outs = rows_program(x);
    realize(outs);
    INFO("batch " << b);
    for (auto& o : outs) kt::check_close(o, reference(o), 1e-5, 1e-6);
  };
  Counts c0 = counts();
  run(5);
  run(9); // the batch is symbolic from here on
  Counts c1 = counts();
  CHECK(c1.compiled - c0.compiled == 2);
  CHECK(c1.resized == c0.resized);
  std::vector<int64_t> sizes = {13, 2, 31, 97, 300, 16, 37};
  for (int64_t b : sizes) run(b);
  Counts c2 = counts();
  CHECK(c2.compiled == c1.compiled);
  CHECK(c2.kernels == c1.kernels);
  CHECK(c2.resized - c1.resized == static_cast<int64_t>(sizes.size()));
  // One row and none trace other graphs (a mean over one row), each its own structure.
  run(1);
  run(0);
  CHECK(counts().compiled - c2.compiled == 2);
  run(13); // a size seen before is a program-cache hit
  CHECK(counts().resized == c2.resized);
}

TEST_CASE("KILN_DYNAMIC=0 compiles every size", "[dynamic]") {
  ConcreteSizes off;
  manual_seed(12);
  Counts c0 = counts();
  for (int64_t b : {4, 6, 8}) {
    Tensor x = randn({b, 29});
    x.realize();
    auto outs = rows_program(x);
    realize(outs);
  }
  Counts c1 = counts();
  CHECK(c1.compiled - c0.compiled == 3);
  CHECK(c1.resized == c0.resized);
}

TEST_CASE("an MLP trained on batches of any size compiles its step at most 3 times",
          "[dynamic][nn]") {
  manual_seed(13);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(24, 32), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(32, 5)});
  optim::Adam opt(model->parameters(), {.lr = 0.01});
  std::mt19937 rng(13);
  std::uniform_int_distribution<int64_t> batch(1, 300);
  Counts c0 = counts();
  int64_t reference_programs = 0; // the concrete checks' own
  std::set<int64_t> batches;
  for (int step = 0; step < 24; ++step) {
    int64_t b = step == 5 ? 1 : batch(rng);
    INFO("step " << step << " batch " << b);
    batches.insert(b);
    Tensor x = randn({b, 24}), y = randint(0, 5, {b});
    realize({x, y});
    double expected;
    {
      ConcreteSizes off; // a fresh concrete-shape program of this batch
      int64_t before = stats().programs_compiled;
      expected = nn::functional::cross_entropy((*model)(x), y).item<double>();
      reference_programs += stats().programs_compiled - before;
    }
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    loss.backward();
    opt.step({loss});
    opt.zero_grad();
    CHECK(loss.item<double>() == Approx(expected).epsilon(1e-5));
  }
  int64_t step_programs = counts().compiled - c0.compiled - reference_programs;
  CHECK(step_programs <= 3);
  // Every other batch size ran a program resized from the symbolic one.
  CHECK(counts().resized - c0.resized == static_cast<int64_t>(batches.size()) - step_programs);
}
