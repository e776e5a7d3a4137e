// Packed GEMM codegen (passes/gemm_match.h, codegen/cpu/emit_gemm.cpp): which kernels take it,
// and its results against the reference interpreter over odd shapes, transposed, batched and
// broadcast operands, f32 and f64, with and without an epilogue, on one thread and on all.
#include "test_util.h"

#include "codegen/backend.h"
#include "ir/kernel_parser.h"
#include "passes/gemm_match.h"

#include <random>
#include <sstream>

using namespace kt;

namespace {

// relu(x @ w + b) for x [m, k], w [k, n] as lowering writes it (tests/ir/lower_matmul_epilogue),
// with the product's operands in the order given.
std::string matmul_kernel(int64_t m, int64_t n, int64_t k, bool swap = false,
                          const char* reduce = "sum") {
  auto s = [](int64_t v) { return std::to_string(v); };
  return "kernel k_mm(a0: f32[" + s(m * k) + "], a1: f32[" + s(k * n) + "], a2: f32[" + s(n) +
         "], a3: f32[" + s(m * n) + "] out)\n  domain [" + s(m) + ", " + s(n) + "]\n  stage 0 [" +
         s(k) +
         "]\n"
         "  %0 = index 0 : i64\n"
         "  %1 = const " +
         s(k) +
         " : i64\n"
         "  %2 = mul %0, %1 : i64\n"
         "  %3 = rindex 0.0 : i64\n"
         "  %4 = add %2, %3 : i64\n"
         "  %5 = load a0[%4] : f32\n"
         "  %6 = index 1 : i64\n"
         "  %7 = const " +
         s(n) +
         " : i64\n"
         "  %8 = mul %3, %7 : i64\n"
         "  %9 = add %6, %8 : i64\n"
         "  %10 = load a1[%9] : f32\n" +
         (swap ? "  %11 = mul %10, %5 : f32\n" : "  %11 = mul %5, %10 : f32\n") +
         "  %12 = " + reduce +
         " %11 @0 : f32\n"
         "  %13 = load a2[%6] : f32\n"
         "  %14 = add %12, %13 : f32\n"
         "  %15 = const 0 : f32\n"
         "  %16 = maximum %14, %15 : f32\n"
         "  %17 = mul %0, %7 : i64\n"
         "  %18 = add %17, %6 : i64\n"
         "  store a3[%18] = %16\n";
}

Tensor input(const Shape& s, DType t) { return random_input(s, t, -1, 1); }

double rtol(DType t) { return t == DType::F64 ? 1e-10 : 1e-4; }
double atol(DType t) { return t == DType::F64 ? 1e-10 : 1e-4; }

// x @ w, with x [..., m, k] (or its transpose stored [..., k, m]) and w likewise.
Tensor product(const Shape& xb, const Shape& wb, int64_t m, int64_t n, int64_t k, bool xt, bool wt,
               DType t) {
  auto shape = [](Shape batch, int64_t r, int64_t c) {
    batch.push_back(r);
    batch.push_back(c);
    return batch;
  };
  auto last2 = [](const Tensor& a) {
    int64_t r = static_cast<int64_t>(a.shape().size());
    return a.transpose(r - 2, r - 1);
  };
  Tensor x = xt ? last2(input(shape(xb, k, m), t)) : input(shape(xb, m, k), t);
  Tensor w = wt ? last2(input(shape(wb, n, k), t)) : input(shape(wb, k, n), t);
  return kiln::matmul(x, w);
}

struct Case {
  int64_t m, n, k;
};

// Seeded mixes of edge sizes, kept small enough for the interpreter (at most ~40M products).
std::vector<Case> odd_shapes(unsigned seed, int count) {
  const int64_t sizes[] = {1, 7, 10, 1000, 1023, 1025};
  std::mt19937 gen(seed);
  std::vector<Case> out;
  while (static_cast<int>(out.size()) < count) {
    Case c{sizes[gen() % 6], sizes[gen() % 6], sizes[gen() % 6]};
    if (c.m * c.n * c.k <= 40'000'000 && c.m * c.n * c.k >= 1000) out.push_back(c);
  }
  return out;
}

} // namespace

TEST_CASE("gemm match: a matmul with its epilogue, either operand order", "[gemm]") {
  for (bool swap : {false, true}) {
    auto g = kiln::match_gemm(kiln::parse_kernel(matmul_kernel(64, 32, 48, swap)));
    REQUIRE(g.has_value());
    CHECK(g->sum == 12);
    CHECK(g->a == 5);
    CHECK(g->b == 10);
    CHECK(g->m_axis == 0);
    CHECK(g->n_axis == 1);
    CHECK((g->M == 64 && g->N == 32 && g->K == 48));
    CHECK_FALSE(g->split_columns);
  }
  CHECK(kiln::match_gemm(kiln::parse_kernel(matmul_kernel(16, 64, 8)))->split_columns);
}

TEST_CASE("gemm match: not for other reductions, nor a matrix-vector product", "[gemm]") {
  CHECK_FALSE(kiln::match_gemm(kiln::parse_kernel(matmul_kernel(64, 32, 48, false, "max"))));
  CHECK_FALSE(kiln::match_gemm(kiln::parse_kernel(matmul_kernel(64, 1, 48))));
  CHECK_FALSE(kiln::match_gemm(kiln::parse_kernel(matmul_kernel(1, 64, 48))));
}

TEST_CASE("gemm codegen: the packed microkernel is emitted", "[gemm][llvm]") {
  KILN_NEEDS_LLVM();
  auto c = kiln::find_backend("llvm")->compile(kiln::parse_kernel(matmul_kernel(64, 32, 48)),
                                               {.dumps = {"asm"}});
  REQUIRE(c.dumps.size() == 1);
  CHECK(c.dumps[0].second.find("k_mm.micro") != std::string::npos);
  CHECK(c.dumps[0].second.find("kiln_gemm_scratch") != std::string::npos);
}

// Code for another kind of host, read here (kiln-opt --mcpu): an AVX2 machine checks that the
// AVX-512 microkernel and vector loops compile, and the other way round.
TEST_CASE("codegen for another CPU: its vector width, no executable", "[gemm][llvm]") {
  KILN_NEEDS_LLVM();
  const kiln::Backend& llvm = *kiln::find_backend("llvm");
  kiln::Kernel gemm = kiln::parse_kernel(matmul_kernel(64, 32, 48));
  kiln::Kernel rows = kiln::parse_kernel("kernel k_rows(a0: f32[4096], a1: f32[64] out)\n"
                                         "  domain [64]\n  stage 0 [64]\n"
                                         "  %0 = index 0 : i64\n  %1 = const 64 : i64\n"
                                         "  %2 = mul %0, %1 : i64\n  %3 = rindex 0.0 : i64\n"
                                         "  %4 = add %2, %3 : i64\n  %5 = load a0[%4] : f32\n"
                                         "  %6 = exp %5 : f32\n  %7 = sum %6 @0 : f32\n"
                                         "  store a1[%0] = %7\n");
  for (const kiln::Kernel& k : {gemm, rows}) {
    INFO(k.name);
    auto asm_for = [&](const char* cpu) {
      kiln::Compiled c = llvm.compile(k, {.dumps = {"asm"}, .cpu = cpu});
      CHECK(c.exe == nullptr);
      REQUIRE(c.dumps.size() == 1);
      return c.dumps[0].second;
    };
    std::string avx512 = asm_for("znver4"), avx2 = asm_for("znver3");
    CHECK(avx512.find("%zmm") != std::string::npos);
    CHECK(avx2.find("%ymm") != std::string::npos);
    CHECK(avx2.find("%zmm") == std::string::npos);
  }
  // The microkernel's FMAs are 512 bits wide.
  std::string skx = llvm.compile(gemm, {.dumps = {"asm"}, .cpu = "skylake-avx512"}).dumps[0].second;
  std::istringstream lines(skx);
  bool wide_fma = false;
  for (std::string line; std::getline(lines, line);)
    wide_fma |= line.find("vfmadd") != std::string::npos && line.find("%zmm") != std::string::npos;
  CHECK(wide_fma);
  CHECK_THAT(error_of([&] { llvm.compile(gemm, {.dumps = {"asm"}, .cpu = "pentium9"}); }),
             Catch::Contains("[codegen]") && Catch::Contains("pentium9") &&
                 Catch::Contains("znver4"));
}

TEST_CASE("gemm: odd shapes against the interpreter, f32 and f64, all transposes", "[gemm]") {
  unsigned seed = 0;
  for (DType t : float_dtypes())
    for (const Case& c : odd_shapes(10 + static_cast<unsigned>(t), 6))
      for (int tr = 0; tr < 4; ++tr) {
        bool xt = tr & 1, wt = tr & 2;
        kiln::manual_seed(++seed);
        INFO(dtype_s(t) << " m " << c.m << " n " << c.n << " k " << c.k << " x^T " << xt << " w^T "
                        << wt);
        check_vs_reference(product({}, {}, c.m, c.n, c.k, xt, wt, t), rtol(t), atol(t));
      }
}

TEST_CASE("gemm: bias + relu epilogue, and an elementwise-produced operand", "[gemm]") {
  for (DType t : float_dtypes())
    for (Case c :
         {Case{1000, 10, 1023}, Case{7, 1025, 1000}, Case{1025, 1023, 10}, Case{10, 1000, 1025}}) {
      kiln::manual_seed(c.m + c.n + c.k);
      INFO(dtype_s(t) << " m " << c.m << " n " << c.n << " k " << c.k);
      Tensor x = input({c.m, c.k}, t), w = input({c.k, c.n}, t), b = input({c.n}, t);
      check_vs_reference((kiln::matmul(x, w) + b).relu(), rtol(t), atol(t));
      check_vs_reference((kiln::matmul((x * 2 + 1).tanh(), w.transpose(0, 1).transpose(0, 1)) * 3),
                         rtol(t), atol(t));
      Tensor wt = input({c.n, c.k}, t);
      check_vs_reference((kiln::matmul(x, wt.transpose(0, 1)) + b).relu(), rtol(t), atol(t));
    }
}

TEST_CASE("gemm: batched and broadcast batch dimensions", "[gemm]") {
  for (DType t : float_dtypes()) {
    kiln::manual_seed(7);
    check_vs_reference(product({3}, {3}, 100, 70, 300, false, false, t), rtol(t), atol(t));
    check_vs_reference(product({3}, {}, 129, 33, 257, true, false, t), rtol(t), atol(t));
    check_vs_reference(product({}, {4}, 10, 1000, 23, false, true, t), rtol(t), atol(t));
    check_vs_reference(product({2, 1}, {3}, 7, 40, 1025, true, true, t), rtol(t), atol(t));
    Tensor x = input({2, 3, 50, 60}, t), w = input({60, 20}, t), b = input({20}, t);
    check_vs_reference((kiln::matmul(x, w) + b).relu(), rtol(t), atol(t));
  }
}

TEST_CASE("gemm: one thread and all agree with the interpreter", "[gemm]") {
  int threads = kiln::num_threads();
  for (int n : {1, threads, 3}) {
    kiln::set_num_threads(n);
    kiln::manual_seed(100 + n);
    INFO("threads " << n);
    // Rows split (m >= n) and columns split (m < n), and a batch split.
    check_vs_reference(product({}, {}, 1000, 300, 200, false, false, DType::F32), 1e-4, 1e-4);
    check_vs_reference(product({}, {}, 40, 1023, 300, false, true, DType::F32), 1e-4, 1e-4);
    check_vs_reference(product({5}, {}, 31, 65, 70, false, false, DType::F64), 1e-10, 1e-10);
  }
  kiln::set_num_threads(threads);
}

TEST_CASE("gemm: views, casts, residuals and several outputs around the product", "[gemm]") {
  for (DType t : float_dtypes()) {
    kiln::manual_seed(11);
    INFO(dtype_s(t));
    // A padded operand (masked loads while packing), a strided slice, a residual add and a cast.
    Tensor x = input({60, 250}, t), w = input({253, 300}, t), r = input({62, 100}, t);
    Tensor xp = kiln::pad(x, {1, 2, 1, 1}, 0.5); // [62, 253]
    Tensor ws = w.slice(1, 3, 300, 3);           // [253, 99] -> 99 columns, step 3
    check_vs_reference(kiln::matmul(xp, ws).relu() * 0.5, rtol(t), atol(t));
    Tensor y = kiln::matmul(xp, w.slice(1, 0, 100)) + r;
    check_vs_reference(y.to(t == DType::F32 ? DType::F64 : DType::F32), 1e-4, 1e-4);
    // The product and its activation both held by the caller: both stored by one kernel.
    Tensor h = kiln::matmul(x, w.slice(0, 0, 250));
    Tensor a = h.tanh();
    Tensor href = kiln::reference(h), aref = kiln::reference(a);
    kiln::realize({h, a});
    check_close(h, href, rtol(t), atol(t));
    check_close(a, aref, rtol(t), atol(t));
  }
}
