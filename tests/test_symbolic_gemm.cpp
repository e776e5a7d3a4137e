// The packed GEMM of symbolic kernels (passes/gemm_match.h, codegen/cpu/emit_gemm.cpp): products
// whose rows or reduction length is the size parameter, from real lowerings (an MLP training
// step over a batch, batched products), take the packed path and agree with the interpreter's
// run of the concrete instantiation over a sweep of sizes, 0 and 1 included.
#include "sym_kernels.h"
#include "test_util.h"

#include "passes/gemm_match.h"
#include "passes/generalise.h"

using namespace kiln;
using kt::Build;
using kt::realized_randn;

namespace {

// Edges of the blocks (partial register tiles of 6 or 12 rows and 16 or 32 columns, a second
// KC pass past 184 or 136, a second MC block past ~220 rows), empty and single rows.
const std::vector<int64_t> kSizes = {0, 1, 2, 3, 7, 16, 17, 31, 64, 97, 300};

// The symbolic kernels of `build` fit from batches of 17 and 50, or a failed test.
std::vector<Kernel> symbolic(const Build& build) {
  auto sym = kt::generalise_all(build, {17, 50});
  REQUIRE(sym);
  return *sym;
}

struct Products {
  int rows = 0, reductions = 0; // packed GEMMs with a symbolic M, with a symbolic K
};

// Counts the kernels that take the packed GEMM, and checks that their LLVM code has its
// microkernel (what only emit_gemm.cpp emits).
Products packed_products(const std::vector<Kernel>& ks) {
  Products p;
  for (const Kernel& k : ks) {
    auto g = match_gemm(k);
    if (!g) continue;
    p.rows += g->M.symbolic();
    p.reductions += g->K.symbolic();
    if (!kt::runs_llvm()) continue;
    auto c = backend_for(Device::cpu(), "llvm").compile(k, {.dumps = {"llvm"}});
    REQUIRE(!c.dumps.empty());
    CHECK(c.dumps[0].second.find(k.name + ".micro") != std::string::npos);
  }
  return p;
}

void check_llvm(const std::vector<Kernel>& ks) {
  // f32 sums of up to 300 products of normal values, in another order than the interpreter's.
  kt::check_backend_at(ks, kSizes, backend_for(Device::cpu(), "llvm"), 1e-5, 1e-4);
}

} // namespace

TEST_CASE("symbolic gemm match: rows or reduction symbolic, columns concrete", "[gemm][symbolic]") {
  manual_seed(21);
  Tensor w = realized_randn({24, 10});
  auto rows = symbolic([w](int64_t b) {
    return std::vector<Tensor>{realized_randn({b, 24}).matmul(w)};
  });
  REQUIRE(rows.size() == 1);
  auto g = match_gemm(rows[0]);
  REQUIRE(g);
  CHECK(sym_str(g->M) == "p0");
  CHECK((g->N == 10 && g->K == 24));
  CHECK_FALSE(g->split_columns); // decided at launch

  auto reduction = symbolic([](int64_t b) {
    return std::vector<Tensor>{
        realized_randn({b, 12}).transpose(0, 1).matmul(realized_randn({b, 16}))};
  });
  REQUIRE(reduction.size() == 1);
  g = match_gemm(reduction[0]);
  REQUIRE(g);
  CHECK((g->M == 12 && g->N == 16 && sym_str(g->K) == "p0"));

  // Symbolic columns would need B's blocks planned at launch: such a product runs as stages.
  Tensor x = realized_randn({16, 24});
  auto cols = symbolic([x](int64_t b) {
    return std::vector<Tensor>{x.matmul(realized_randn({24, b}))};
  });
  REQUIRE(cols.size() == 1);
  CHECK(sym_str(cols[0].domain) == "[16, p0]");
  CHECK_FALSE(match_gemm(cols[0]));
}

TEST_CASE("symbolic gemm: an MLP training step's products at every batch size",
          "[gemm][symbolic]") {
  manual_seed(22);
  // Every product has at least 8 columns: forward x @ w1 and h @ w2 and the input gradient
  // dlogits @ w2^T have the batch as rows, the weight gradients x^T @ dh and h^T @ dlogits
  // reduce over it.
  auto ks = symbolic(kt::mlp_step(20, 24, 10));
  Products p = packed_products(ks);
  CHECK(p.rows == 3);
  CHECK(p.reductions == 2);
  KILN_NEEDS_LLVM();
  check_llvm(ks);
}

TEST_CASE("symbolic gemm: a bias and relu epilogue, K in two passes", "[gemm][symbolic]") {
  manual_seed(23);
  Tensor w = realized_randn({200, 24}), bias = realized_randn({24});
  auto ks = symbolic([w, bias](int64_t b) {
    return std::vector<Tensor>{(realized_randn({b, 200}).matmul(w) + bias).relu()};
  });
  Products p = packed_products(ks);
  CHECK(p.rows == 1);
  KILN_NEEDS_LLVM();
  // Each thread's share of the rows (or below 24 rows, of the columns) is cut at launch: one
  // thread takes all, three uneven ranges.
  int threads = num_threads();
  for (int n : {1, 3}) {
    set_num_threads(n);
    check_llvm(ks);
  }
  set_num_threads(threads);
}

TEST_CASE("symbolic gemm: batched products over a symbolic batch or rows", "[gemm][symbolic]") {
  manual_seed(24);
  auto batch = symbolic([](int64_t b) {
    return std::vector<Tensor>{realized_randn({b, 6, 12}).matmul(realized_randn({b, 12, 16}))};
  });
  Tensor w = realized_randn({3, 12, 16});
  auto rows = symbolic([w](int64_t b) {
    return std::vector<Tensor>{realized_randn({3, b, 12}).matmul(w)};
  });
  CHECK(packed_products(batch).rows == 0);
  CHECK(packed_products(rows).rows == 1);
  KILN_NEEDS_LLVM();
  check_llvm(batch);
  check_llvm(rows);
}

// Not run by the suite (hidden tag): `build/tests/kiln_tests "[.bench]"`. A linear layer's
// forward and its weight gradient, symbolic against concrete (the first compile of a process
// also starts the JIT: the first row's symbolic compile time includes it).
TEST_CASE("symbolic gemm timing against the concrete kernel", "[.bench]") {
  KILN_NEEDS_LLVM();
  manual_seed(25);
  Tensor w = realized_randn({784, 256}), bias = realized_randn({256});
  Build linear = [w, bias](int64_t b) {
    return std::vector<Tensor>{(realized_randn({b, 784}).matmul(w) + bias).relu()};
  };
  kt::time_against_concrete("relu(x[B,784] @ w[784,256] + b)", linear, symbolic(linear).at(0),
                            {16, 64, 256});
  Build weight_grad = [](int64_t b) {
    return std::vector<Tensor>{
        realized_randn({b, 784}).transpose(0, 1).matmul(realized_randn({b, 256}))};
  };
  kt::time_against_concrete("x^T[784,B] @ dy[B,256]", weight_grad, symbolic(weight_grad).at(0),
                            {16, 64, 256});
}
