// Symbolic kernels (passes/generalise.h): kernel IR lowered from one graph at two or three sizes
// is generalised, then instantiated over a seeded sweep of sizes and compared with the concrete
// lowering at each, and run by the interpreter against the concrete kernel.
#include "sym_kernels.h"
#include "test_util.h"

#include "codegen/cuda/cuda_emit.h"
#include "codegen/interp/interp_backend.h"
#include "ir/kernel_parser.h"
#include "passes/generalise.h"
#include "passes/pipeline.h"

#include <cstring>
#include <functional>
#include <optional>
#include <random>

using namespace kiln;
using kt::Build;
using kt::check_backend_at;
using kt::error_of;
using kt::generalise_all;
using kt::lowered;
using kt::mlp_step;
using kt::realized_randn;

namespace {

// Whether the symbolic kernels at s are exactly what lowering at s gives.
bool matches_at(const std::vector<Kernel>& sym, const Build& build, int64_t s) {
  std::vector<Kernel> concrete = lowered(build, s);
  if (concrete.size() != sym.size()) return false;
  for (size_t i = 0; i < sym.size(); ++i)
    if (!(instantiate(sym[i], s) == concrete[i])) return false;
  return true;
}

// 0 (unless the graph cannot be empty), 1, primes, 300 and a few seeded sizes.
std::vector<int64_t> sweep(uint32_t seed, bool zero = true) {
  std::vector<int64_t> s = {1, 2, 3, 5, 7, 13, 31, 97, 300};
  if (zero) s.insert(s.begin(), 0);
  std::mt19937 rng(seed);
  for (int i = 0; i < 3; ++i) s.push_back(std::uniform_int_distribution<int64_t>(2, 300)(rng));
  return s;
}

// The sizes of the sweep at which the symbolic kernels are not the concrete lowering.
std::vector<int64_t> mismatches(const std::vector<Kernel>& sym, const Build& build, uint32_t seed,
                                bool zero = true) {
  std::vector<int64_t> bad;
  for (int64_t s : sweep(seed, zero))
    if (!matches_at(sym, build, s)) bad.push_back(s);
  return bad;
}

// A graph over a batch of rows: elementwise over [B, 784].
Build elementwise() {
  Tensor bias = realized_randn({784});
  return [bias](int64_t b) {
    Tensor x = realized_randn({b, 784});
    return std::vector<Tensor>{(x * 2.0 + bias).relu()};
  };
}

Build row_softmax() {
  return [](int64_t t) {
    Tensor x = realized_randn({6, t});
    Tensor e = (x - x.max({-1}, true)).exp();
    return std::vector<Tensor>{e / e.sum({-1}, true)};
  };
}

Build matmul_rows() {
  Tensor w = realized_randn({24, 10});
  return [w](int64_t b) { return std::vector<Tensor>{realized_randn({b, 24}).matmul(w)}; };
}

Build column_mean() {
  return [](int64_t b) { return std::vector<Tensor>{realized_randn({b, 5}).mean({0})}; };
}

} // namespace

TEST_CASE("sym ints print, evaluate and refuse to be read as numbers", "[generalise]") {
  SymInt v = SymInt::poly(1, 5, -3, 2);
  CHECK(sym_str(v) == "2*p1^2-3*p1+5");
  CHECK(sym_str(SymInt::poly(0, 0, 784, 0)) == "784*p0");
  CHECK(sym_str(SymInt::poly(0, 7, -1, 0)) == "-p0+7");
  CHECK(sym_str(SymInt::poly(0, 7, 0, 0)) == "7");
  CHECK(!SymInt::poly(0, 7, 0, 0).symbolic());
  CHECK(v.at(4) == 2 * 16 - 12 + 5);
  CHECK(error_of([&] { (void)v.value(); }).find("symbolic") != std::string::npos);
  CHECK(error_of([&] { (void)v.at(int64_t{1} << 40); }).find("overflows") != std::string::npos);
  CHECK(error_of([&] {
          (void)numel(std::vector<SymInt>{3, v});
        }).find("2*p1^2") != std::string::npos);
}

TEST_CASE("symbolic kernel text round-trips and is verified", "[generalise]") {
  const char* text = "kernel k_mul_1(a0: f32[784*p0], a1: f32[784*p0] out, p0: i64)\n"
                     "  domain [784*p0]\n"
                     "  stage 0 [p0^2-p0+1]\n"
                     "  %0 = index 0 : i64\n"
                     "  %1 = load a0[%0] : f32\n"
                     "  %2 = sym 2*p0 : f32\n"
                     "  %3 = mul %1, %2 : f32\n"
                     "  %4 = sym -1/(p0+1) : f32\n"
                     "  %5 = add %3, %4 : f32\n"
                     "  store a1[%0] = %5\n";
  Kernel k = parse_kernel(text);
  CHECK(print_kernel(k) == text);
  CHECK(k.symbolic());
  CHECK(k.stages[0][0] == SymInt::poly(0, 1, -1, 1));
  std::string bad = text;
  bad.replace(bad.find("p0: i64"), 7, "p0: f32");
  CHECK_THAT(error_of([&] { parse_kernel(bad); }),
             Catch::Contains("needs p0 to be an i64 parameter"));
  CHECK_THAT(error_of([&] {
               parse_kernel("kernel k(a0: f32[p0+p1] out, p0: i64, p1: i64)\n"
                            "  domain []\n");
             }),
             Catch::Contains("uses p0 and p1"));
  CHECK_THAT(error_of([&] { parse_kernel("kernel k(a0: f32[p0^3] out, p0: i64)\n  domain []\n"); }),
             Catch::Contains("the exponent 2"));
  CHECK_THAT(error_of([&] {
               parse_kernel("kernel k(a0: f32[9223372036854775807*p0+9223372036854775807*p0] out, "
                            "p0: i64)\n  domain []\n");
             }),
             Catch::Contains("overflows int64"));
  CHECK_THAT(error_of([&] { parse_kernel("kernel k(a0: f32[1] out)\n  domain [-2]\n"); }),
             Catch::Contains("negative extent in the domain"));
}

TEST_CASE("generalise fits elementwise kernels over a batch of rows", "[generalise]") {
  manual_seed(1);
  Build b = elementwise();
  auto sym = generalise_all(b, {8, 20});
  REQUIRE(sym);
  REQUIRE(sym->size() == 1);
  INFO(print_kernel((*sym)[0]));
  // p0 is the literal 2.0 (scalar operands are parameters), p1 the size.
  CHECK(sym_str((*sym)[0].domain) == "[p1, 784]");
  CHECK(print_kernel(parse_kernel(print_kernel((*sym)[0]))) == print_kernel((*sym)[0]));
  // One row drops the row loop (a different kernel, so refused there); 0 rows keep it.
  CHECK(mismatches(*sym, b, 12) == std::vector<int64_t>{1});
}

TEST_CASE("generalise fits a row softmax over its row length", "[generalise]") {
  manual_seed(2);
  Build b = row_softmax();
  auto sym = generalise_all(b, {16, 40});
  REQUIRE(sym);
  INFO(print_kernel((*sym)[0]));
  CHECK(sym_str((*sym)[0].stages[0]) == "[p0]");
  // A row of one element reduces without a stage: a different kernel, so it is refused there.
  // (max has no empty rows.)
  CHECK(mismatches(*sym, b, 13, false) == std::vector<int64_t>{1});
}

TEST_CASE("generalise fits a matmul over its rows", "[generalise]") {
  manual_seed(3);
  Build b = matmul_rows();
  auto sym = generalise_all(b, {9, 33});
  REQUIRE(sym);
  INFO(print_kernel((*sym)[0]));
  auto bad = mismatches(*sym, b, 14);
  // One row drops the row loop; every larger size is the symbolic kernel exactly.
  CHECK(std::all_of(bad.begin(), bad.end(), [](int64_t s) { return s <= 1; }));
}

TEST_CASE("generalise fits a mean over the batch, its count a symbolic literal", "[generalise]") {
  manual_seed(4);
  Build b = column_mean();
  auto sym = generalise_all(b, {10, 64});
  REQUIRE(sym);
  INFO(print_kernel((*sym)[0]));
  CHECK(print_kernel((*sym)[0]).find("sym p0 : f32") != std::string::npos);
  auto bad = mismatches(*sym, b, 15);
  CHECK(std::all_of(bad.begin(), bad.end(), [](int64_t s) { return s <= 1; }));
}

TEST_CASE("generalise fits an MLP training step over its batch", "[generalise]") {
  manual_seed(5);
  Build b = mlp_step(12, 16, 4);
  // The layout pass computes the logits' product [B, 4] transposed from 2 rows on, so one fit
  // serves every batch but one row (which traces another graph).
  auto fit = generalise_all(b, {6, 50});
  REQUIRE(fit);
  CHECK(fit->size() >= 3);
  std::string all;
  for (auto& k : *fit) all += print_kernel(k);
  INFO(all);
  CHECK(all.find("sym 1/(-p") != std::string::npos); // the mean's gradient: -1/B
  for (int64_t s : sweep(16)) {
    INFO("size " << s);
    CHECK(matches_at(*fit, b, s) == (s >= 2));
  }
  // A batch of 16 shares the constant 16 of w1's shape in the weight gradient's kernel: refused
  // as a sample (one instruction fewer), but instantiate shares it too, so that kernel matches.
  CHECK(!generalise_all(b, {16, 40}));
  CHECK(matches_at(*fit, b, 16));
}

TEST_CASE("generalise refuses what is not a polynomial in the size", "[generalise]") {
  manual_seed(6);
  // A row of one is lowered without a stage: the kernels differ in structure.
  CHECK(!generalise_all(row_softmax(), {1, 16}));
  // 0.3 and 0.7 are no integers of the sizes 4 and 8, nor 1 or 2 over them (0.25 and 0.125
  // would be: 1/S). A scalar operand would be a parameter instead of a literal.
  Kernel a = parse_kernel("kernel k_v_1(a0: f32[1] out)\n  domain [1]\n  %0 = const 0 : i64\n"
                          "  %1 = const 0.3 : f32\n  store a0[%0] = %1\n");
  Kernel b = a;
  b.insts[1].value.f = 0.7;
  std::string why;
  CHECK(!generalise({{4, &a}, {8, &b}}, &why));
  CHECK(why == "literal %1 is no integer polynomial in the size");
  // The same sizes twice say nothing of the size.
  CHECK(!generalise_all(elementwise(), {8, 8}));
  // Extents 6*b/4 do not fit integer coefficients from b = 4 and 6 (6 and 9: 3/2 per size).
  Kernel k4 = lowered(elementwise(), 4)[0], k6 = k4;
  k4.domain = {SymInt(6)};
  k6.domain = {SymInt(9)};
  CHECK(!generalise({{4, &k4}, {6, &k6}}, &why));
  CHECK(why == "no polynomial fits domain extent 0");
}

TEST_CASE("a packed GEMM whose columns change with the size is refused", "[generalise]") {
  manual_seed(15);
  // Square products at two sizes: N is the size, and the packed GEMM needs it concrete.
  Build square = [](int64_t n) {
    return std::vector<Tensor>{realized_randn({n, n}).matmul(realized_randn({n, n}))};
  };
  auto lows = std::vector{lowered(square, 64), lowered(square, 96)};
  REQUIRE(lows[0].size() == 1);
  std::string why;
  CHECK(!generalise({{64, &lows[0][0]}, {96, &lows[1][0]}}, &why));
  CHECK(why.find("packed GEMM whose column count changes") != std::string::npos);
}

TEST_CASE("a quadratic extent needs three samples; two give a fit the check rejects",
          "[generalise]") {
  manual_seed(7);
  // Pairwise scores of t values (an outer product, not a GEMM): t*t elements.
  Build scores = [](int64_t t) {
    Tensor q = realized_randn({t});
    return std::vector<Tensor>{(q.reshape({t, 1}) * q.reshape({1, t}) * 0.5).exp()};
  };
  auto affine = generalise_all(scores, {8, 12});
  REQUIRE(affine); // a wrong guess: T*T fit by a line through two points
  CHECK(!matches_at(*affine, scores, 20));
  auto quadratic = generalise_all(scores, {8, 12, 20});
  REQUIRE(quadratic);
  auto bad = mismatches(*quadratic, scores, 17);
  CHECK(std::all_of(bad.begin(), bad.end(), [](int64_t s) { return s <= 1; }));
}

TEST_CASE("instantiate errors name the kernel and the size", "[generalise]") {
  Kernel k = parse_kernel("kernel k_v_1(a0: f32[p0-3] out, p0: i64)\n"
                          "  domain [p0-3]\n"
                          "  %0 = index 0 : i64\n"
                          "  %1 = const 1 : f32\n"
                          "  store a0[%0] = %1\n");
  CHECK(instantiate(k, 5).domain == std::vector<SymInt>{2});
  CHECK_THAT(error_of([&] { instantiate(k, 1); }), Catch::Contains("k_v_1 at size 1"));
  Kernel c = instantiate(k, 5);
  CHECK_THAT(error_of([&] { instantiate(c, 5); }), Catch::Contains("no size parameter"));
}

TEST_CASE("the interpreter runs symbolic kernels as their concrete lowerings", "[generalise]") {
  manual_seed(8);
  for (const Build& b :
       {elementwise(), row_softmax(), matmul_rows(), column_mean(), mlp_step(12, 16, 4)}) {
    auto sym = generalise_all(b, {6, 11});
    REQUIRE(sym);
    check_backend_at(*sym, {0, 1, 2, 3, 17, 50}, interp_backend(), 0);
  }
}

TEST_CASE("the LLVM backend runs symbolic kernels with sizes read at launch", "[generalise]") {
  KILN_NEEDS_LLVM();
  manual_seed(9);
  const Backend& llvm = backend_for(Device::cpu(), "llvm");
  for (const Build& b :
       {elementwise(), row_softmax(), matmul_rows(), column_mean(), mlp_step(12, 16, 4)}) {
    auto sym = generalise_all(b, {6, 11});
    REQUIRE(sym);
    // Sizes around the vector width (8 or 16 lanes) and past it: the loops' tails.
    check_backend_at(*sym, {0, 1, 7, 17, 50}, llvm, 1e-5);
  }
}

TEST_CASE("symbolic outputs get streaming stores when they are large at launch", "[generalise]") {
  KILN_NEEDS_LLVM();
  manual_seed(14);
  const Backend& llvm = backend_for(Device::cpu(), "llvm");
  // Rows of 4 KB: the stores of a row cover whole cache lines (a flat loop split among
  // threads at any element does not know its lines, and streams in neither kernel).
  Build rows = [](int64_t b) {
    return std::vector<Tensor>{nn::functional::softmax(realized_randn({b, 1024}), 1)};
  };
  auto sym = generalise_all(rows, {6, 11});
  REQUIRE(sym);
  Compiled c = llvm.compile((*sym)[0], {.dumps = {"asm"}});
  REQUIRE(c.dumps.size() == 1);
  CHECK(c.dumps[0].second.find("vmovnt") != std::string::npos);
  // 4100 rows write 16.4 MB (the streaming version), 3 rows 12 KB (the cached one).
  check_backend_at(*sym, {3, 4100}, llvm, 1e-5);
}

TEST_CASE("CUDA code generation refuses symbolic kernels with an error", "[generalise]") {
  manual_seed(10);
  auto sym = generalise_all(row_softmax(), {16, 40});
  REQUIRE(sym);
  CHECK_THAT(error_of([&] { cuda::emit_cuda((*sym)[0]); }), Catch::Contains("symbolic"));
}
