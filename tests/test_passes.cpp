// Golden tests of the graph passes: a graph built node by node, one pass, the expected text.
#include <catch2/catch.hpp>

#include "codegen/host/allocator.h"
#include "ir/graph_printer.h"
#include "ir/verifier.h"
#include "passes/pipeline.h"
#include "passes/simplify.h"

using namespace kiln;

namespace {

NodePtr buffer(DType t, Shape s) {
  return make_buffer_node(t, s, cpu_alloc(numel(s) * dtype_size(t)));
}
NodePtr lit(double v, DType t = DType::F32, bool param = false) {
  return make_node(Op::Const, t, {}, {}, ConstAttr{Scalar::of(t, v), param});
}
NodePtr bcast(const NodePtr& c, const Shape& s) {
  NodePtr r = make_node(Op::Reshape, c->dtype, Shape(s.size(), 1), {c});
  return make_node(Op::Expand, c->dtype, s, {r});
}
NodePtr bin(Op op, const NodePtr& a, const NodePtr& b) {
  DType out =
      is_comparison(op) || op == Op::LogicalAnd || op == Op::LogicalOr ? DType::Bool : a->dtype;
  return make_node(op, out, a->shape, {a, b});
}
NodePtr un(Op op, const NodePtr& a) { return make_node(op, a->dtype, a->shape, {a}); }

// Runs the pass, verifies the result and returns its text.
std::string after(Graph (*pass)(const Graph&), std::vector<NodePtr> outputs) {
  Graph g = pass(Graph{std::move(outputs)});
  verify_graph(g.raw(), "test");
  return print_graph(g.raw());
}

} // namespace

TEST_CASE("fold: elementwise ops on literals become one literal", "[passes][fold]") {
  NodePtr x = buffer(DType::F32, {4});
  NodePtr c = bin(Op::Mul, bcast(lit(2), {4}), bcast(lit(3), {4}));
  CHECK(after(fold_constants, {bin(Op::Add, x, c)}) == "%0 = buffer : f32[4]\n"
                                                       "%1 = const {value=6} : f32[]\n"
                                                       "%2 = expand %1 : f32[4]\n"
                                                       "%3 = add %0, %2 : f32[4]\n"
                                                       "return %3\n");
}

TEST_CASE("fold: parameters are never folded", "[passes][fold]") {
  NodePtr c = bin(Op::Mul, bcast(lit(2, DType::F32, true), {4}), bcast(lit(3), {4}));
  std::string text = after(fold_constants, {c});
  CHECK(text.find("param") != std::string::npos);
  CHECK(text.find("mul") != std::string::npos);
}

TEST_CASE("algebra: exact identities", "[passes][algebra]") {
  NodePtr x = buffer(DType::F32, {4}), i = buffer(DType::I32, {4});
  CHECK(after(simplify_algebra, {bin(Op::Mul, x, bcast(lit(1), {4}))}) ==
        "%0 = buffer : f32[4]\nreturn %0\n");
  CHECK(after(simplify_algebra, {bin(Op::Div, x, bcast(lit(1), {4}))}) ==
        "%0 = buffer : f32[4]\nreturn %0\n");
  CHECK(after(simplify_algebra, {bin(Op::Sub, x, bcast(lit(0), {4}))}) ==
        "%0 = buffer : f32[4]\nreturn %0\n");
  CHECK(after(simplify_algebra, {un(Op::Neg, un(Op::Neg, x))}) ==
        "%0 = buffer : f32[4]\nreturn %0\n");
  CHECK(after(simplify_algebra, {bin(Op::Add, i, bcast(lit(0, DType::I32), {4}))}) ==
        "%0 = buffer : i32[4]\nreturn %0\n");
  // x + 0 is not an identity for floats (-0 + 0 = +0); x * 0 is not (NaN * 0 = NaN).
  CHECK(after(simplify_algebra, {bin(Op::Add, x, bcast(lit(0), {4}))}).find("add") !=
        std::string::npos);
  CHECK(after(simplify_algebra, {bin(Op::Mul, x, bcast(lit(0), {4}))}).find("mul") !=
        std::string::npos);
  CHECK(after(simplify_algebra, {bin(Op::Mul, i, bcast(lit(0, DType::I32), {4}))}) ==
        "%0 = const {value=0} : i32[]\n%1 = expand %0 : i32[4]\nreturn %1\n");
  CHECK(after(simplify_algebra, {make_node(Op::Cast, DType::F32, {4}, {x})}) ==
        "%0 = buffer : f32[4]\nreturn %0\n");
}

TEST_CASE("views: chains merge and identities vanish", "[passes][views]") {
  NodePtr x = buffer(DType::F32, {2, 3, 4});
  NodePtr r1 = make_node(Op::Reshape, DType::F32, {6, 4}, {x});
  NodePtr r2 = make_node(Op::Reshape, DType::F32, {24}, {r1});
  CHECK(after(canonicalize_views, {r2}) ==
        "%0 = buffer : f32[2, 3, 4]\n%1 = reshape %0 : f32[24]\nreturn %1\n");

  NodePtr p1 = make_node(Op::Permute, DType::F32, {3, 4, 2}, {x}, PermuteAttr{{1, 2, 0}});
  NodePtr p2 = make_node(Op::Permute, DType::F32, {2, 3, 4}, {p1}, PermuteAttr{{2, 0, 1}});
  CHECK(after(canonicalize_views, {p2}) == "%0 = buffer : f32[2, 3, 4]\nreturn %0\n");

  NodePtr y = buffer(DType::F32, {3, 1, 4});
  NodePtr p3 = make_node(Op::Permute, DType::F32, {1, 3, 4}, {y}, PermuteAttr{{1, 0, 2}});
  CHECK(after(canonicalize_views, {p3}) ==
        "%0 = buffer : f32[3, 1, 4]\n%1 = reshape %0 : f32[1, 3, 4]\nreturn %1\n");

  NodePtr s = make_node(Op::Slice, DType::F32, {2, 3, 4}, {x}, SliceAttr{{0, 0, 0}, {1, 1, 1}});
  CHECK(after(canonicalize_views, {s}) == "%0 = buffer : f32[2, 3, 4]\nreturn %0\n");
}

TEST_CASE("dce: untaken where branches and absorbed logical operands", "[passes][dce]") {
  NodePtr x = buffer(DType::F32, {4}), y = buffer(DType::F32, {4}), m = buffer(DType::Bool, {4});
  NodePtr w =
      make_node(Op::Where, DType::F32, {4}, {bcast(lit(1, DType::Bool), {4}), x, un(Op::Exp, y)});
  CHECK(after(eliminate_dead_code, {w}) == "%0 = buffer : f32[4]\nreturn %0\n");
  NodePtr o = bin(Op::LogicalOr, m, bcast(lit(1, DType::Bool), {4}));
  CHECK(after(eliminate_dead_code, {o}) ==
        "%0 = const {value=true} : bool[]\n%1 = expand %0 : bool[4]\nreturn %1\n");
}

TEST_CASE("cse: equal subtrees merge, parameters do not", "[passes][cse]") {
  NodePtr x = buffer(DType::F32, {4});
  NodePtr a = un(Op::Exp, bin(Op::Add, x, bcast(lit(1), {4})));
  NodePtr b = un(Op::Exp, bin(Op::Add, x, bcast(lit(1), {4})));
  CHECK(after(eliminate_common_subexpressions, {bin(Op::Mul, a, b)}) ==
        "%0 = buffer : f32[4]\n"
        "%1 = const {value=1} : f32[]\n"
        "%2 = reshape %1 : f32[1]\n"
        "%3 = expand %2 : f32[4]\n"
        "%4 = add %0, %3 : f32[4]\n"
        "%5 = exp %4 : f32[4]\n"
        "%6 = mul %5, %5 : f32[4]\n"
        "return %6\n");
  NodePtr p =
      bin(Op::Mul, bcast(lit(2, DType::F32, true), {4}), bcast(lit(2, DType::F32, true), {4}));
  std::string text = after(eliminate_common_subexpressions, {p});
  size_t first = text.find("param"); // two parameters stay two
  CHECK(first != std::string::npos);
  CHECK(text.find("param", first + 1) != std::string::npos);
}

TEST_CASE("the pipeline verifies after every pass and keeps outputs in order",
          "[passes][pipeline]") {
  NodePtr x = buffer(DType::F32, {8});
  NodePtr a = bin(Op::Mul, x, bcast(lit(1), {8}));
  NodePtr b = un(Op::Exp, x);
  std::vector<std::string> steps;
  PipelineOptions opts;
  opts.on_step = [&](std::string_view step, const std::string&) { steps.emplace_back(step); };
  Schedule s = run_pipeline({b.get(), a.get()}, opts);
  CHECK(steps == std::vector<std::string>{"graph", "fold", "algebra", "views", "dce", "cse",
                                          "layout", "sums", "kernels"});
  REQUIRE(s.graph.outputs.size() == 2);
  CHECK(s.graph.outputs[1] == x); // x * 1 is x itself
  CHECK(s.kernels.size() == 1);   // only exp needs a kernel
}
