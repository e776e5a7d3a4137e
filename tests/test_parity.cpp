// Compiled code (fused and unfused) and the reference interpreter agree with each other and with
// IEEE / PyTorch on the edges: literals of narrow dtypes, -0, NaN, denormal results, empty axes.
#include "test_util.h"

#include "ir/error.h"
#include "ir/graph_parser.h"

#include <functional>
#include <limits>

using namespace kt;
using kiln::Tensor;

namespace {

const double inf = std::numeric_limits<double>::infinity();
const double qnan = std::numeric_limits<double>::quiet_NaN();

// Equal including the sign of zero; any NaN matches any NaN (payloads are not compared).
bool same(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

void check_same(const std::vector<double>& got, const std::vector<double>& want, const char* what) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(what << " at " << i << ": got " << got[i] << ", expected " << want[i]);
    CHECK(same(got[i], want[i]));
  }
}

// Builds f() with fusion on and off: the compiled values and the interpreter's must both be
// `want`, bit for bit.
void check_parity(const std::function<Tensor()>& f, const std::vector<double>& want) {
  struct Restore {
    ~Restore() { kiln::options().fusion = true; } // also when a REQUIRE throws
  } restore;
  for (bool fusion : {true, false}) {
    kiln::options().fusion = fusion;
    INFO("fusion " << fusion);
    Tensor t = f();
    check_same(kiln::reference(t).to_vector<double>(), want, "reference");
    check_same(t.to_vector<double>(), want, "compiled");
  }
}

// Each value as a dtype holds it: f32 values rounded once.
std::vector<double> in_dtype(std::vector<double> v, DType t) {
  if (t == DType::F32)
    for (double& x : v) x = static_cast<float>(x);
  return v;
}

Tensor input(const std::vector<double>& v, DType t) {
  return kiln::tensor(v).to(t); // the cast rounds to f32 like in_dtype
}

std::vector<double> map(std::vector<double> v, double (*f)(double)) {
  for (double& x : v) x = f(x);
  return v;
}

} // namespace

TEST_CASE("integer and bool literals hold what their dtype stores", "[parity]") {
  // PyTorch: full(-1, uint8) is 255, and it converts, sums and compares as 255.
  auto u8 = [] { return kiln::full({3}, -1, DType::U8); };
  check_parity(u8, {255, 255, 255});
  check_parity([&] { return u8().to(DType::F32); }, {255, 255, 255});
  check_parity([&] { return u8().to(DType::I64); }, {255, 255, 255});
  check_parity([&] { return u8().sum(); }, {765});
  check_parity([&] { return kiln::clamp(u8(), 0, 200); }, {200, 200, 200});
  check_parity([&] { return u8() + 1; }, {0, 0, 0}); // wraps
  check_parity([&] { return kiln::maximum(u8(), kiln::full({3}, 7, DType::U8)); }, {255, 255, 255});
  check_parity([&] { return kiln::full({1}, -1.7, DType::U8).to(DType::I32); }, {255});
  check_parity(
      [&] {
        return kiln::pad(kiln::full({1}, 3, DType::U8), {1, 0}, -2).to(DType::F32);
      },
      {254, 3});
  // Beyond PyTorch (which refuses such values): wrapped like a C++ cast, the same on every path.
  check_parity([] { return kiln::full({1}, 4294967297.0, DType::I32).to(DType::I64); }, {1});
  check_parity([] { return kiln::full({2}, 0.5, DType::Bool).to(DType::I64); }, {1, 1});
  // -INT64_MIN wraps to INT64_MIN, as in PyTorch (folding it must not be undefined behaviour).
  const double min64 = -9223372036854775808.0;
  check_parity([&] { return kiln::full({1}, min64, DType::I64).neg().to(DType::F64); }, {min64});
  check_parity([&] { return kiln::full({1}, min64, DType::I64).abs().to(DType::F64); }, {min64});
}

TEST_CASE("graph IR integer literals must fit their dtype", "[parity][parser]") {
  auto parse = [](const std::string& value) {
    kiln::parse_graph("%0 = const {value=" + value + "} : u8[]\nreturn %0\n");
  };
  CHECK_NOTHROW(parse("255"));
  CHECK_THROWS_WITH(parse("-1"), Catch::Contains("expected a u8 literal, got '-1'"));
  CHECK_THROWS_WITH(parse("256"), Catch::Contains("expected a u8 literal, got '256'"));
}

TEST_CASE("cat keeps every value exactly: -0, infinities, NaN, denormals", "[parity][views]") {
  const std::vector<double> v = {-0.0, 0.0, -inf, inf, qnan, 1e-40, -3.5};
  for (DType t : float_dtypes()) {
    INFO(dtype_s(t));
    std::vector<double> want = in_dtype(v, t);
    want.push_back(1);
    check_parity([&] { return kiln::cat({input(v, t), kiln::ones({1}, t)}); }, want);
    check_parity([&] { return kiln::cat({input({-0.0}, t), input({1.0}, t)}); }, {-0.0, 1});
    // Along an inner axis, three parts.
    check_parity(
        [&] {
          Tensor a = input({-0.0, 2}, t).reshape({2, 1});
          return kiln::cat({a, a, input({-0.0, -0.0}, t).reshape({2, 1})}, 1);
        },
        {-0.0, -0.0, -0.0, 2, 2, -0.0});
  }
}

TEST_CASE("x - (-0) is not simplified to x", "[parity][passes]") {
  // -0 - (-0) is +0 (IEEE, PyTorch); x - 0 is x for every x.
  auto x = [] { return kiln::tensor({-0.f, 1.f}); };
  check_parity([&] { return x() - kiln::full({}, -0.0); }, {0.0, 1});
  check_parity([&] { return x() - kiln::full({}, 0.0); }, {-0.0, 1});
}

TEST_CASE("softmax and log_softmax over an empty axis give an empty result", "[parity][nn]") {
  namespace F = kiln::nn::functional;
  for (const Shape& s : {Shape{2, 0}, Shape{0, 3}}) {
    INFO(shape_s(s));
    for (int64_t axis : {0, 1}) {
      INFO("axis " << axis);
      Tensor x = kiln::zeros(s);
      for (Tensor y : {F::softmax(x, axis), F::log_softmax(x, axis)}) {
        CHECK(y.shape() == s);
        CHECK(y.to_vector<float>().empty());
        CHECK(kiln::reference(y).shape() == s);
      }
    }
  }
  // A bad axis is still an error.
  CHECK_THROWS_AS(F::softmax(kiln::zeros({2, 0}), 2), kiln::Error);
}

TEST_CASE("cross_entropy and nll_loss skip classes masked out with -inf", "[parity][nn]") {
  // As in PyTorch, a -inf logit is a class of probability 0: the loss and its gradient stay
  // finite (before: the one-hot product took -inf * 0 = NaN into every loss).
  namespace F = kiln::nn::functional;
  Tensor logits = kiln::tensor({{1.0, -inf, 0.5}, {-inf, 2.0, 0.0}}).requires_grad_();
  Tensor target = kiln::tensor({0, 1});
  double z0 = std::exp(1.0) + std::exp(0.5), z1 = std::exp(2.0) + 1;
  double want = ((std::log(z0) - 1) + (std::log(z1) - 2)) / 2;
  CHECK(F::nll_loss(F::log_softmax(logits, 1), target).item<double>() == Approx(want));
  Tensor loss = F::cross_entropy(logits, target);
  CHECK(loss.item<double>() == Approx(want));
  loss.backward(); // (softmax - one_hot) / 2
  std::vector<double> g = logits.grad().to_vector<double>(),
                      expected = {(std::exp(1.0) / z0 - 1) / 2, 0,
                                  std::exp(0.5) / z0 / 2,       0,
                                  (std::exp(2.0) / z1 - 1) / 2, 1 / z1 / 2};
  for (size_t i = 0; i < g.size(); ++i) {
    INFO("gradient " << i << ": " << g[i] << ", expected " << expected[i]);
    CHECK(g[i] == Approx(expected[i]).margin(1e-15));
  }
}

TEST_CASE("exp and sigmoid have denormal results", "[parity][elementwise]") {
  // torch.exp(torch.tensor(-100.)) is 3.78e-44, and so is torch.sigmoid(torch.tensor(-100.)).
  const std::vector<double> x = {-100, -103, -103.9, -104, -105, -inf, 0, 50};
  auto sigmoid = [](double v) {
    double e = std::exp(-std::fabs(v));
    return (v < 0 ? e : 1) / (1 + e);
  };
  for (DType t : float_dtypes()) {
    INFO(dtype_s(t));
    check_parity([&] { return input(x, t).exp(); },
                 in_dtype(map(in_dtype(x, t), [](double v) { return std::exp(v); }), t));
    check_parity([&] { return input(x, t).sigmoid(); }, in_dtype(map(in_dtype(x, t), +sigmoid), t));
  }
  check_parity([] { return input({-100}, DType::F32).exp(); }, {27 * std::ldexp(1.0, -149)});
  // f64: e^740 overflows, sigmoid(-740) = 4.2e-322 does not.
  check_parity([&] { return input({-740}, DType::F64).sigmoid(); }, {sigmoid(-740)});
  check_parity([] { return input({-inf, inf, qnan}, DType::F32).sigmoid(); }, {0, 1, qnan});
}

TEST_CASE("functions with f(-0) = -0 keep the sign of zero", "[parity][elementwise]") {
  using Fn = Tensor (*)(const Tensor&);
  const std::pair<const char*, Fn> odd[] = {
      {"tanh", [](const Tensor& x) { return x.tanh(); }},
      {"sin", [](const Tensor& x) { return x.sin(); }},
      {"expm1", [](const Tensor& x) { return x.expm1(); }},
      {"log1p", [](const Tensor& x) { return x.log1p(); }},
      {"erf", [](const Tensor& x) { return x.erf(); }},
      {"sqrt", [](const Tensor& x) { return x.sqrt(); }},
      {"round", [](const Tensor& x) { return x.round(); }},
      {"floor", [](const Tensor& x) { return x.floor(); }},
      {"ceil", [](const Tensor& x) { return x.ceil(); }},
  };
  for (DType t : float_dtypes())
    for (auto& [name, f] : odd) {
      INFO(name << " " << dtype_s(t));
      check_parity([&] { return f(input({-0.0, 0.0}, t)); }, {-0.0, 0.0});
    }
}
