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

// Adds what realize_them() compiles and resizes to `program`: a program's own counts, apart
// from those of the checks around it.
template <typename F> void count_into(Counts& program, F&& realize_them) {
  Counts before = counts();
  realize_them();
  Counts after = counts();
  program.compiled += after.compiled - before.compiled;
  program.resized += after.resized - before.resized;
  program.kernels += after.kernels - before.kernels;
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

// A sum longer than 4096 sums in parts (passes/blocked_sums.h): parts of a batch's rows, not
// blocks of 512 of all its elements, whose count would change every 16 sizes (before: 2 to 3
// kernels compiled again every 16 sizes).
TEST_CASE("a long sum over a batch keeps its kernels as the batch changes", "[dynamic]") {
  manual_seed(13);
  Counts program{0, 0, 0};
  auto run = [&](int64_t b) {
    Tensor x = randn({b, 33});
    x.realize();
    Tensor total = (x * 2.0f).sum(), peak = x.abs().max();
    count_into(program, [&] { realize({total, peak}); });
    INFO("batch " << b);
    kt::check_close(total, reference(total), 1e-5, 1e-4);
    CHECK(peak.item<float>() == reference(peak).item<float>());
  };
  run(200);
  run(201); // symbolic from here on
  Counts c1 = program;
  for (int64_t b : {215, 216, 300, 511, 1000, 1024, 3001}) run(b);
  CHECK(program.compiled == c1.compiled);
  CHECK(program.kernels == c1.kernels);
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

TEST_CASE("mark_dynamic compiles a structure once for every size", "[dynamic]") {
  manual_seed(14);
  // The program's own counts, apart from the checks' programs.
  Counts program{0, 0, 0};
  auto run = [&](int64_t b) {
    Tensor x = randn({b, 41});
    x.realize();
    mark_dynamic(x, 0);
    auto outs = rows_program(x.exp()); // a structure of its own, which no other test realized
    count_into(program, [&] { realize(outs); });
    INFO("batch " << b);
    for (auto& o : outs) kt::check_close(o, reference(o), 1e-5, 1e-6);
  };
  run(6); // symbolic from the first size: fit against the graph resized to 7
  CHECK(program.compiled == 1);
  CHECK(program.resized == 0);
  int64_t kernels = program.kernels;
  std::vector<int64_t> sizes = {7, 2, 53, 250, 6 * 41, 17};
  for (int64_t b : sizes) run(b);
  CHECK(program.compiled == 1);
  CHECK(program.kernels == kernels);
  CHECK(program.resized == static_cast<int64_t>(sizes.size()));
}

TEST_CASE("mark_dynamic at a size other dimensions share stays exact", "[dynamic]") {
  // A batch of 32 through a 32-wide layer: duck sizing resizes the weight as well, so the
  // first fit is wrong for other sizes, and the exact check must catch it.
  manual_seed(15);
  nn::Linear layer(32, 32);
  Counts c0 = counts();
  for (int64_t b : {32, 9, 70, 33}) {
    INFO("batch " << b);
    Tensor x = randn({b, 32});
    x.realize();
    mark_dynamic(x, 0);
    Tensor y = layer(x).tanh();
    y.realize();
    kt::check_close(y, reference(y), 1e-5, 1e-6);
  }
  CHECK(counts().compiled - c0.compiled <= 3);
}

TEST_CASE("mark_dynamic on a batch of one fits at the next size", "[dynamic]") {
  manual_seed(16);
  Counts c0 = counts();
  for (int64_t b : {1, 5, 12, 30}) {
    INFO("batch " << b);
    Tensor x = randn({b, 19});
    x.realize();
    mark_dynamic(x, -2);
    auto outs = rows_program(x);
    realize(outs);
    for (auto& o : outs) kt::check_close(o, reference(o), 1e-5, 1e-6);
  }
  // One row traces another structure (a mean over one row); 5 compiles, 12 and 30 resize... or
  // compile once more where the first fit needs a third size.
  CHECK(counts().compiled - c0.compiled <= 3);
}

TEST_CASE("an MLP step with a marked batch compiles once", "[dynamic][nn]") {
  manual_seed(17);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(24, 40), std::make_shared<nn::Tanh>(),
      std::make_shared<nn::Linear>(40, 5)});
  optim::SGD opt(model->parameters(), {.lr = 0.05});
  Counts c0 = counts();
  int64_t reference_programs = 0;
  std::vector<int64_t> batches = {64, 17, 200, 3, 64, 101};
  for (int64_t b : batches) {
    INFO("batch " << b);
    Tensor x = randn({b, 24}), y = randint(0, 5, {b});
    realize({x, y});
    double expected;
    {
      ConcreteSizes off;
      int64_t before = stats().programs_compiled;
      expected = nn::functional::cross_entropy((*model)(x), y).item<double>();
      reference_programs += stats().programs_compiled - before;
    }
    mark_dynamic(x, 0);
    mark_dynamic(y, 0);
    Tensor loss = nn::functional::cross_entropy((*model)(x), y);
    loss.backward();
    opt.step({loss});
    opt.zero_grad();
    CHECK(loss.item<double>() == Approx(expected).epsilon(1e-5));
  }
  CHECK(counts().compiled - c0.compiled - reference_programs == 1);
}

TEST_CASE("mark_dynamic names a bad axis", "[dynamic][errors]") {
  Tensor x = randn({3, 4});
  CHECK_THROWS_WITH(mark_dynamic(x, 2), Catch::Contains("[mark_dynamic]") &&
                                            Catch::Contains("axis 2 is out of range") &&
                                            Catch::Contains("f32[3, 4]"));
  CHECK_THROWS_WITH(mark_dynamic(Tensor(), 0), Catch::Contains("undefined"));
}

TEST_CASE("a wrong first guess of a marked size costs one compile, not one per size", "[dynamic]") {
  // A mean over [B, 10] divides by 10*B, which the resized copy does not follow: the first fit
  // is wrong beyond its own size, and the fit from two realized sizes replaces it.
  manual_seed(18);
  int64_t compiled = 0;
  for (int64_t b : {4, 6, 7, 8, 9, 11, 13, 5, 20}) {
    INFO("batch " << b);
    Tensor x = randn({b, 10});
    x.realize();
    mark_dynamic(x, 0);
    Tensor loss = (x * x).mean();
    int64_t before = stats().programs_compiled;
    loss.realize();
    compiled += stats().programs_compiled - before;
    kt::check_close(loss, reference(loss), 1e-5, 1e-6);
  }
  CHECK(compiled == 2);
}

TEST_CASE("a marked batch of 3 leaves the literals 1 and 0.5 alone", "[dynamic]") {
  // 1 = 2/(3-1) and 0.5 = 1/(3-1): were they taken to follow the batch, the fit would be wrong at
  // every other size.
  manual_seed(19);
  int64_t compiled = 0;
  for (int64_t b : {3, 4, 9, 30}) {
    INFO("batch " << b);
    Tensor x = randn({b, 6});
    x.realize();
    mark_dynamic(x, 0);
    Tensor y = x.sigmoid().gelu() + 0.5f;
    int64_t before = stats().programs_compiled;
    y.realize();
    compiled += stats().programs_compiled - before;
    kt::check_close(y, reference(y), 1e-5, 1e-6);
  }
  CHECK(compiled == 1);
}
