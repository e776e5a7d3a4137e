// The CUDA emitter's kernels run on the host (tests/cuda_host_harness.h) and checked against the
// kernel-IR interpreter, on a set of graphs that covers every strategy and dtype. Hidden from the
// plain suite: CTest runs it as `cuda_host_harness` (it compiles C++ at test time, ~10 s).
#include "codegen/cuda/cuda_emit.h"
#include "codegen/interp/kernel_eval.h"
#include "cuda_host_harness.h"
#include "ir/graph_printer.h"
#include "kiln/kiln.h"
#include "passes/pipeline.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <set>

namespace {

namespace F = kiln::nn::functional;
using kiln::DType;
using kiln::Shape;
using kiln::Tensor;
using kiln::cuda::Strategy;

Tensor in(Shape s, DType t = DType::F32) {
  if (kiln::is_float(t)) return kiln::randn(std::move(s), t);
  if (t == DType::Bool)
    return kiln::randint(0, 2, std::move(s), DType::I64).to(DType::Bool).realize();
  return kiln::randint(-20, 20, std::move(s), t);
}

struct Case {
  std::string name;
  std::vector<Tensor> outputs;
  bool ties = false; // inputs of few distinct values (multiples of 1/2): argmax ties, round ties
};

std::vector<Case> cases() {
  std::vector<Case> cs;
  // Pointwise: every dtype, broadcasts, views.
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = in({257}, t), a = in({257}, t), b = in({257}, t);
    cs.push_back({"unary_mix",
                  {x.exp().log1p() + x.sigmoid() * x.erf() - x.abs().sqrt().rsqrt() + x.tanh() +
                   x.floor() + x.round() + x.sign() + kiln::pow(x, 3.0) + kiln::maximum(x, a) -
                   kiln::fmod(x, b) + x.reciprocal()},
                  true});
    cs.push_back({"gelu", {(x * a + b).gelu("tanh")}});
  }
  for (DType t : {DType::I32, DType::I64}) {
    Tensor x = in({300}, t), y = in({300}, t);
    cs.push_back({"int_mix",
                  {x * y - kiln::maximum(x, y) + kiln::minimum(x, y).abs() + x.sign() +
                   kiln::floor_divide(x, 3) + kiln::remainder(x, 5) + kiln::fmod(x, 7)}});
  }
  {
    Tensor x = in({300}), y = in({300}), m0 = in({300}, DType::Bool);
    Tensor m = kiln::logical_and(x > y, m0);
    cs.push_back({"bool_u8", {m, kiln::where(m, x, y), (x * 100).to(DType::U8).to(DType::F32)}});
    Tensor g = in({5, 33}), row = in({1, 33}), col = in({5, 1});
    cs.push_back({"broadcast", {(g + row) * col}});
    Tensor v = in({3, 4, 9});
    cs.push_back({"views", {kiln::pad(v, {2, 3, 1, 0}, 0.0).exp(), v.permute({2, 0, 1}) * 2.0}});
  }
  // Rows: softmax / log_softmax / layernorm (multi-stage), sums, argmax with ties; f32 rows
  // take a warp, f64 and long rows a block.
  for (DType t : {DType::F32, DType::F64})
    for (int64_t n : {int64_t{40}, int64_t{1500}}) {
      Tensor x = in({5, n}, t), w = in({n}, t), b = in({n}, t);
      cs.push_back({"softmax", {F::softmax(x, -1), F::log_softmax(x, -1)}});
      cs.push_back({"layernorm", {F::layer_norm(x, {n}, w, b)}});
      cs.push_back({"argmax_rows", {x.argmax(1), x.argmin(1), x.max({1})}, true});
    }
  for (DType t : {DType::I32, DType::I64})
    for (int64_t n : {int64_t{100}, int64_t{1500}}) {
      Tensor x = in({3, n}, t);
      cs.push_back({"int_rows", {x.sum({1}), x.argmax(1), x.min({1})}, true});
    }
  for (DType t : {DType::F32, DType::F64}) {
    Tensor x = in({6, 70}, t), m = in({6, 70}, DType::Bool);
    cs.push_back({"masked_row_sum", {kiln::where(m, x, 0.0).sum({1})}});
  }
  // Serial: column reductions and short rows.
  for (DType t : {DType::F32, DType::F64, DType::I32}) {
    Tensor x = in({100, 70}, t);
    cs.push_back({"columns", {x.sum({0}), x.argmax(0)}, true});
    cs.push_back({"short_rows", {in({300, 7}, t).max({1})}});
  }
  cs.push_back({"bool_columns", {kiln::where(in({80, 65}, DType::Bool), 1.0, 2.0).sum({0})}});
  // Full reductions (domain []).
  cs.push_back({"sum_all_f32", {in({5000}).sum()}});
  cs.push_back({"max_all_i64", {in({3000}, DType::I64).max()}});
  cs.push_back({"mean_all_f64", {in({2000}, DType::F64).mean()}});
  // Long full max/min: blocked (passes/blocked_sums.h), every block a kernel's point. Values past
  // 2.8 turn NaN in the reducing kernel itself (each kernel's inputs are random here), so some
  // blocks' maxima are NaN and others not (fmaxf would drop them).
  {
    Tensor x = in({20000}), y = in({20000});
    cs.push_back({"max_all_nan", {kiln::where(x > 2.8, (-x).log(), x).max()}});
    cs.push_back({"min_all_nan", {kiln::where(y > 2.8, (-y).log(), y).min()}});
    cs.push_back({"max_all_i32", {in({9000}, DType::I32).max()}});
  }
  // Tiled matmul with epilogues, batched, transposed operand.
  for (DType t : {DType::F32, DType::F64}) {
    Tensor a = in({70, 30}, t), b = in({30, 130}, t), bias = in({130}, t);
    cs.push_back({"matmul_bias_relu", {(kiln::matmul(a, b) + bias).relu()}});
    cs.push_back({"matmul_bT", {kiln::matmul(in({33, 20}, t), in({40, 20}, t).transpose(0, 1))}});
  }
  cs.push_back({"matmul_batched", {kiln::matmul(in({2, 33, 17}), in({2, 17, 40}))}});
  // Attention (one kernel, softmax_sum): keys over two chunks of 128, outputs over two columns a
  // thread (f32) and over two passes of 512 (f64); a causal mask, and one that hides every key
  // of the first queries (NaN rows, as the unfused softmax gives).
  for (DType t : {DType::F32, DType::F64}) {
    int64_t l = 150, n = t == DType::F32 ? 130 : 600;
    Tensor q = in({2, 6, 16}, t), k = in({2, l, 16}, t), v = in({2, l, n}, t);
    Tensor s = kiln::matmul(q, k.transpose(1, 2)) * 0.25;
    Tensor rows = kiln::arange(0, 6).reshape({6, 1}), cols = kiln::arange(0, l).reshape({1, l});
    double inf = std::numeric_limits<double>::infinity();
    cs.push_back({"attention", {kiln::matmul(F::softmax(s, -1), v)}});
    cs.push_back({"attention_causal",
                  {kiln::matmul(F::softmax(kiln::masked_fill(s, cols > rows, -inf), -1), v)}});
    cs.push_back({"attention_hidden",
                  {kiln::matmul(F::softmax(kiln::masked_fill(s, cols > rows - 3, -inf), -1), v)}});
  }
  return cs;
}

// Seeded data for one buffer: normal floats (or few distinct halves with `ties`), small
// integers, random bools and bytes.
void fill(std::vector<unsigned char>& buf, DType t, int64_t n, bool ties, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int64_t> small(ties ? -2 : -20, ties ? 2 : 20), byte(0, 255);
  for (int64_t i = 0; i < n; ++i) {
    double f = ties ? std::round(normal(rng) * 3) / 2 : normal(rng); // halves: rounding ties too
    int64_t v = t == DType::Bool ? byte(rng) & 1 : t == DType::U8 ? byte(rng) : small(rng);
    void* p = buf.data() + i * kiln::dtype_size(t);
    switch (t) {
    case DType::F32: {
      float x = static_cast<float>(f);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::F64:
      std::memcpy(p, &f, 8);
      break;
    case DType::I32: {
      int32_t x = static_cast<int32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::I64:
      std::memcpy(p, &v, 8);
      break;
    default:
      *static_cast<unsigned char*>(p) = static_cast<unsigned char>(v);
    }
  }
}

// "" when equal up to reduction-order rounding, else the first differing element.
std::string compare(const std::vector<unsigned char>& got, const std::vector<unsigned char>& want,
                    DType t, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const unsigned char *g = got.data() + i * kiln::dtype_size(t),
                        *w = want.data() + i * kiln::dtype_size(t);
    if (kiln::is_float(t)) {
      double a, b;
      if (t == DType::F32) {
        float x, y;
        std::memcpy(&x, g, 4), std::memcpy(&y, w, 4);
        a = x, b = y;
      } else {
        std::memcpy(&a, g, 8), std::memcpy(&b, w, 8);
      }
      double tol = (t == DType::F32 ? 1e-5 : 1e-12) * (1 + std::fabs(b));
      bool same = (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= tol;
      if (!same) return fmt::format("element {}: host CUDA {} vs interpreter {}", i, a, b);
    } else if (std::memcmp(g, w, kiln::dtype_size(t)) != 0) {
      int64_t a = 0, b = 0;
      std::memcpy(&a, g, kiln::dtype_size(t)), std::memcpy(&b, w, kiln::dtype_size(t));
      return fmt::format("element {}: host CUDA {} vs interpreter {}", i, a, b);
    }
  }
  return "";
}

struct Run {
  std::string case_name;
  kiln::Kernel kernel;
  bool ties;
};

} // namespace

TEST_CASE("cuda: every emitter strategy and dtype runs on the host and matches the interpreter",
          "[.cuda_host]") {
  std::vector<Run> runs;
  std::vector<kiln::cuda::CudaKernel> emitted;
  std::set<std::string> sources;
  for (const Case& c : cases()) {
    std::vector<kiln::Node*> roots;
    for (const Tensor& t : c.outputs) roots.push_back(t.node().get());
    for (auto& lk : kiln::run_pipeline(roots, {}).kernels) {
      auto ck = kiln::cuda::emit_cuda(lk.kernel);
      if (!sources.insert(ck.source).second) continue;
      runs.push_back({c.name, lk.kernel, c.ties});
      emitted.push_back(std::move(ck));
    }
  }
  kt::HostCudaKernels host(emitted, KILN_CUDA_HOST_DIR);

  std::map<Strategy, std::map<DType, int>> ran;
  std::mt19937_64 rng(11);
  for (size_t i = 0; i < runs.size(); ++i) {
    const kiln::Kernel& k = runs[i].kernel;
    INFO(runs[i].case_name << ", " << kiln::cuda::strategy_name(emitted[i].plan.strategy)
                           << " kernel:\n"
                           << kiln::print_kernel(k));
    // Inputs random, outputs prefilled alike: unwritten elements compare equal.
    std::vector<std::vector<unsigned char>> want, got;
    std::vector<uint64_t> params(k.params.size());
    for (const kiln::KArg& a : k.args) {
      want.emplace_back(a.numel.value() * kiln::dtype_size(a.dtype) + 8, 0xa5);
      if (!a.output) fill(want.back(), a.dtype, a.numel.value(), runs[i].ties, rng);
    }
    for (size_t p = 0; p < params.size(); ++p) params[p] = rng() % 7 + 1;
    got = want;
    auto args_of = [&](std::vector<std::vector<unsigned char>>& bufs) {
      std::vector<void*> args;
      for (auto& b : bufs) args.push_back(b.data());
      for (auto& p : params) args.push_back(&p);
      return args;
    };
    auto want_args = args_of(want), got_args = args_of(got);
    kiln::KernelEval(k).run(want_args.data(), 0, k.domain.empty() ? 1 : k.domain[0].value());
    host.launch(i, got_args.data());
    std::set<DType> dtypes;
    for (size_t a = 0; a < k.args.size(); ++a) {
      dtypes.insert(k.args[a].dtype);
      if (k.args[a].output)
        CHECK(compare(got[a], want[a], k.args[a].dtype, k.args[a].numel.value()) == "");
    }
    for (DType t : dtypes) ++ran[emitted[i].plan.strategy][t];
  }

  std::string table;
  for (auto& [st, by_dtype] : ran) {
    table += fmt::format("  {:13}", kiln::cuda::strategy_name(st));
    for (auto& [t, n] : by_dtype) table += fmt::format(" {} {}", kiln::dtype_name(t), n);
    table += "\n";
  }
  fmt::print("cuda host harness: {} kernels ran on the host against the interpreter; kernels "
             "per strategy and argument dtype:\n{}",
             runs.size(), table);
  // Every strategy, and each dtype in every strategy that takes it.
  for (Strategy st : {Strategy::Pointwise, Strategy::Row, Strategy::Serial})
    for (DType t : {DType::F32, DType::F64, DType::I32, DType::I64, DType::Bool})
      CHECK(ran[st][t] > 0);
  for (DType t : {DType::F32, DType::I32, DType::I64, DType::Bool})
    CHECK(ran[Strategy::WarpRow][t] > 0);
  for (DType t : {DType::F32, DType::F64}) {
    CHECK(ran[Strategy::TiledMatmul][t] > 0);
    CHECK(ran[Strategy::Attention][t] > 0);
  }
}
