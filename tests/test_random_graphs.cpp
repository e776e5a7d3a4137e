// Seeded randomized differential test: random op graphs (unary, broadcasting binary, reductions,
// views, matmuls) over small random f32 tensors, realized and compared with the reference
// interpreter.
#include "test_util.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <numeric>
#include <sstream>

using namespace kt;
using kiln::Tensor;

namespace {

// Overridable for longer soaks: KILN_TEST_RANDOM_SEED, KILN_TEST_RANDOM_GRAPHS.
uint64_t env_or(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}
const uint64_t kSeed = env_or("KILN_TEST_RANDOM_SEED", 20240611);
const int kGraphs = static_cast<int>(env_or("KILN_TEST_RANDOM_GRAPHS", 200));
constexpr int kDepth = 6;
constexpr int64_t kMaxNumel = 1500; // views that grow tensors (expand, pad) stay under this

struct Builder {
  kiln::Generator& g;
  std::ostringstream log; // a readable trace of the graph, printed on failure

  explicit Builder(kiln::Generator& gen) : g(gen) {}

  int64_t pick(int64_t n) { return static_cast<int64_t>(g.next() % static_cast<uint64_t>(n)); }
  int64_t range(int64_t lo, int64_t hi) { return lo + pick(hi - lo + 1); } // inclusive
  bool coin() { return pick(2) == 0; }

  Shape random_shape() {
    Shape s(range(0, 3));
    for (auto& d : s) d = coin() ? 1 : range(2, 5);
    return s;
  }

  Tensor leaf(const Shape& s) { return random_input(s, DType::F32, -2, 2, &g); }

  Tensor unary(const Tensor& x) {
    switch (pick(17)) {
    case 0:
      log << "neg; ";
      return x.neg();
    case 1:
      log << "abs; ";
      return x.abs();
    case 2:
      log << "clamp(-4,4).exp; ";
      return kiln::clamp(x, -4, 4).exp();
    case 3:
      log << "(abs+1).log; ";
      return (x.abs() + 1).log();
    case 4:
      log << "(abs+1).sqrt; ";
      return (x.abs() + 1).sqrt();
    case 5:
      log << "tanh; ";
      return x.tanh();
    case 6:
      log << "sigmoid; ";
      return x.sigmoid();
    case 7:
      log << "sin; ";
      return x.sin();
    case 8:
      log << "cos; ";
      return x.cos();
    case 9:
      log << "relu; ";
      return x.relu();
    case 10:
      log << "gelu; ";
      return x.gelu();
    case 11:
      log << "gelu(tanh); ";
      return x.gelu("tanh");
    case 12:
      log << "silu; ";
      return x.silu();
    case 13:
      log << "softplus; ";
      return x.softplus();
    case 14:
      log << "erf; ";
      return x.erf();
    case 15:
      log << "(abs+1).rsqrt; ";
      return (x.abs() + 1).rsqrt();
    default:
      log << "x*x*0.5; ";
      return x * x * 0.5;
    }
  }

  // An operand that broadcasts against x: a random shape with some of x's dims replaced by 1 and
  // possibly fewer leading dims, or a reduction of x with keepdim.
  Tensor broadcast_partner(const Tensor& x, const std::vector<Tensor>& pool) {
    for (int tries = 0; tries < 4; ++tries) {
      const Tensor& c = pool[pick(static_cast<int64_t>(pool.size()))];
      bool ok = true;
      size_t r = std::max(c.shape().size(), x.shape().size());
      int64_t n = 1;
      for (size_t i = 0; i < r && ok; ++i) {
        int64_t a = i < r - x.shape().size() ? 1 : x.shape()[i - (r - x.shape().size())];
        int64_t b = i < r - c.shape().size() ? 1 : c.shape()[i - (r - c.shape().size())];
        ok = a == b || a == 1 || b == 1;
        n *= std::max(a, b);
      }
      if (ok && n <= kMaxNumel) return c;
    }
    if (coin() && x.dim() > 0) {
      int64_t ax = pick(x.dim());
      log << "[partner sum(" << ax << ",keep)] ";
      return x.sum({ax}, true);
    }
    Shape s;
    size_t drop = pick(static_cast<int64_t>(x.shape().size()) + 1);
    for (size_t i = drop; i < x.shape().size(); ++i) s.push_back(coin() ? 1 : x.shape()[i]);
    log << "[partner leaf " << shape_s(s) << "] ";
    return leaf(s);
  }

  Tensor binary(const Tensor& x, const std::vector<Tensor>& pool) {
    Tensor y = broadcast_partner(x, pool);
    bool swap = coin();
    const Tensor& a = swap ? y : x;
    const Tensor& b = swap ? x : y;
    switch (pick(7)) {
    case 0:
      log << "add; ";
      return a + b;
    case 1:
      log << "sub; ";
      return a - b;
    case 2:
      log << "mul; ";
      return a * b;
    case 3:
      log << "div(abs+1); ";
      return a / (b.abs() + 1);
    case 4:
      log << "maximum; ";
      return kiln::maximum(a, b);
    case 5:
      log << "minimum; ";
      return kiln::minimum(a, b);
    default:
      log << "scalar-mix; ";
      return 0.5 * a - b * 0.25 + 1;
    }
  }

  Tensor reduce(const Tensor& x) {
    std::vector<int64_t> axes;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (coin()) axes.push_back(coin() ? d : d - x.dim()); // negative axes too
    bool keep = coin();
    std::ostringstream a;
    for (int64_t v : axes) a << v << ",";
    switch (pick(5)) {
    case 0:
      log << "sum({" << a.str() << "}," << keep << "); ";
      return x.sum(axes, keep);
    case 1:
      log << "mean({" << a.str() << "}," << keep << "); ";
      return x.mean(axes, keep);
    case 2:
      log << "max({" << a.str() << "}," << keep << "); ";
      return x.max(axes, keep);
    case 3:
      log << "min({" << a.str() << "}," << keep << "); ";
      return x.min(axes, keep);
    default:
      log << "(sigmoid+0.5).prod({" << a.str() << "}," << keep << "); ";
      return (x.sigmoid() + 0.5).prod(axes, keep);
    }
  }

  Tensor view(const Tensor& x) {
    const Shape& s = x.shape();
    switch (pick(8)) {
    case 0: { // reshape to a random factorization of numel, with a -1
      int64_t n = x.numel();
      std::vector<int64_t> divs;
      for (int64_t d = 1; d <= n; ++d)
        if (n % d == 0) divs.push_back(d);
      int64_t d = divs[pick(static_cast<int64_t>(divs.size()))];
      Shape t = coin() ? Shape{d, -1} : Shape{-1, d, 1};
      log << "reshape(" << shape_s(t) << "); ";
      return x.reshape(t);
    }
    case 1: { // permute
      if (x.dim() < 2) break;
      std::vector<int64_t> p(x.dim());
      std::iota(p.begin(), p.end(), 0);
      for (size_t i = p.size() - 1; i > 0; --i)
        std::swap(p[i], p[pick(static_cast<int64_t>(i) + 1)]);
      log << "permute(" << shape_s(p) << "); ";
      return x.permute(p);
    }
    case 2: { // transpose
      if (x.dim() < 2) break;
      int64_t a = pick(x.dim()), b = pick(x.dim()) - x.dim();
      log << "transpose(" << a << "," << b << "); ";
      return x.transpose(a, b);
    }
    case 3: { // non-empty slice with a step (possibly negative)
      if (x.dim() == 0) break;
      int64_t ax = pick(x.dim()), n = s[ax];
      int64_t step = coin() ? range(1, 3) : -range(1, 3);
      int64_t start = range(0, n - 1);
      if (coin()) start -= n; // negative index
      log << "slice(" << ax << "," << start << ",_," << step << "); ";
      return x.slice(ax, start, std::nullopt, step);
    }
    case 4: { // expand size-1 dims, maybe with a new leading dim
      Shape t = s;
      for (auto& d : t)
        if (d == 1 && coin()) d = range(2, 4);
      if (coin()) t.insert(t.begin(), range(1, 3));
      if (kiln::numel(t) > kMaxNumel) break;
      log << "expand(" << shape_s(t) << "); ";
      return x.expand(t);
    }
    case 5: { // pad the last one or two axes
      if (x.dim() == 0 || x.numel() * 4 > kMaxNumel) break;
      std::vector<int64_t> pads;
      for (int64_t i = 0; i < std::min<int64_t>(x.dim(), range(1, 2)); ++i) {
        pads.push_back(range(0, 2));
        pads.push_back(range(0, 2));
      }
      double v = coin() ? 0.0 : -0.5;
      log << "pad(" << shape_s(pads) << "," << v << "); ";
      return kiln::pad(x, pads, v);
    }
    case 6: { // unsqueeze / squeeze
      if (coin()) {
        int64_t ax = pick(x.dim() + 1);
        log << "unsqueeze(" << ax << "); ";
        return x.unsqueeze(ax);
      }
      log << "squeeze; ";
      return x.squeeze();
    }
    default:
      log << "flatten; ";
      return x.flatten();
    }
    log << "(view skipped) ";
    return x;
  }

  // x as a matrix times a fresh leaf, directly, through a transpose, or transposed itself; 17 and
  // 24 columns reach the matmul layout rules (copies, transposed products).
  Tensor matmul(const Tensor& x) {
    Tensor m = x.dim() >= 2 ? x.reshape({-1, x.shape().back()}) : x.reshape({1, -1});
    int64_t rows = m.shape()[0], k = m.shape()[1];
    const int64_t widths[] = {3, 17, 24};
    int64_t n = widths[pick(3)];
    switch (pick(3)) {
    case 0:
      if (rows * n > kMaxNumel) break;
      log << "matmul [" << k << "," << n << "]; ";
      return kiln::matmul(m, leaf({k, n}));
    case 1:
      if (rows * n > kMaxNumel) break;
      log << "matmul [" << n << "," << k << "].t; ";
      return kiln::matmul(m, leaf({n, k}).transpose(0, 1));
    default:
      if (k * n > kMaxNumel) break;
      log << "t.matmul [" << rows << "," << n << "]; ";
      return kiln::matmul(m.transpose(0, 1), leaf({rows, n}));
    }
    log << "(matmul skipped) ";
    return x;
  }
};

// Elementwise closeness with the test's tolerances (NaN == NaN).
bool close_to_ref(const Tensor& got, const Tensor& ref, double rtol, double atol,
                  std::string& why) {
  if (got.shape() != ref.shape() || got.dtype() != ref.dtype()) {
    why = "shape/dtype " + shape_s(got.shape()) + dtype_s(got.dtype()) + " vs " +
          shape_s(ref.shape()) + dtype_s(ref.dtype());
    return false;
  }
  std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    if (!values_close(g[i], r[i], rtol, atol)) {
      std::ostringstream os;
      os.precision(9);
      os << "index " << i << " of " << shape_s(ref.shape()) << ": got " << g[i] << ", expected "
         << r[i];
      why = os.str();
      return false;
    }
  return true;
}

} // namespace

// Runs with fusion on and off. Intermediates are dropped before realize(), so only the two
// results are outputs and fusion decides everything else.
TEST_CASE("random graphs match the reference interpreter", "[random]") {
  const double rtol = 1e-4, atol = 1e-5;
  bool fusion = GENERATE(true, false);
  kiln::options().fusion = fusion;
  int checked = 0;
  for (int it = 0; it < kGraphs; ++it) {
    kiln::Generator g(kSeed + static_cast<uint64_t>(it));
    Builder b(g);
    std::vector<Tensor> pool;
    int leaves = static_cast<int>(b.range(2, 4));
    for (int i = 0; i < leaves; ++i) {
      Shape s = b.random_shape();
      b.log << "leaf" << i << shape_s(s) << " ";
      pool.push_back(b.leaf(s));
    }
    b.log << "\n";
    Tensor x = pool[b.pick(static_cast<int64_t>(pool.size()))];
    std::vector<Tensor> results;
    for (int d = 0; d < kDepth; ++d) {
      b.log << "  step " << d << " on " << shape_s(x.shape()) << ": ";
      int64_t kind = b.pick(11);
      if (kind < 2)
        x = b.unary(x);
      else if (kind < 5)
        x = b.binary(x, pool);
      else if (kind < 7)
        x = b.reduce(x);
      else if (kind == 10)
        x = b.matmul(x);
      else {
        x = b.view(x);
        if (b.pick(3) == 0) x = b.view(x); // views of views
      }
      b.log << "-> " << shape_s(x.shape()) << "\n";
      pool.push_back(x);
      results.push_back(x);
    }
    // Realize the last result and one earlier one together (multi-output programs).
    Tensor other = results[b.pick(static_cast<int64_t>(results.size()))];
    INFO("fusion " << fusion << ", seed " << kSeed << " + iteration " << it << "\n" << b.log.str());
    try {
      Tensor ref_x = kiln::reference(x), ref_o = kiln::reference(other);
      pool.clear();
      results.clear();
      kiln::realize({x, other});
      std::string why;
      bool ok = close_to_ref(x, ref_x, rtol, atol, why);
      INFO("final result: " << why);
      CHECK(ok);
      bool ok2 = close_to_ref(other, ref_o, rtol, atol, why);
      INFO("other result: " << why);
      CHECK(ok2);
    } catch (const std::exception& e) {
      FAIL_CHECK("exception: " << e.what());
    }
    ++checked;
  }
  CHECK(checked == kGraphs);
  kiln::options().fusion = true;
}

namespace {

// A leaf whose elements are random normals, one in three replaced by an IEEE special.
Tensor special_leaf(Builder& b, const Shape& s) {
  const float specials[] = {0.f,
                            -0.f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::denorm_min(),
                            -3e-39f,
                            1e-30f,
                            3e38f};
  std::vector<float> v = b.leaf(s).to_vector<float>();
  for (float& x : v)
    if (b.pick(3) == 0) x = specials[b.pick(std::size(specials))];
  return kiln::tensor(v, s);
}

// Elementwise math straight on the specials (no domain guards), and the patterns fast-math
// rewrites: 1 / sqrt(y), x * y + z, x / y.
Tensor special_step(Builder& b, const Tensor& x, const Tensor& y) {
  switch (b.pick(16)) {
  case 0:
    return 1 / x.sqrt();
  case 1:
    return x.rsqrt();
  case 2:
    return x * y + x;
  case 3:
    return x / y;
  case 4:
    return x.sqrt();
  case 5:
    return x.log();
  case 6:
    return x.exp();
  case 7:
    return x.tanh();
  case 8:
    return x.sigmoid();
  case 9:
    return x.reciprocal();
  case 10:
    return kiln::maximum(x, y);
  case 11:
    return kiln::minimum(x, y) - y;
  case 12:
    return x.relu() * y;
  case 13:
    return kiln::clamp(x, -1, 2) + y * 0.5;
  case 14:
    return kiln::where(x > y, x.abs(), -y);
  default:
    return x.gelu("tanh") + x.silu();
  }
}

// The bits of each element, every NaN counted as one value.
std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<uint32_t> out;
  for (float f : t.to_vector<float>()) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    out.push_back(std::isnan(f) ? 0x7fc00000u : u);
  }
  return out;
}

} // namespace

TEST_CASE("random elementwise graphs over IEEE specials: fused equals unfused bit for bit",
          "[random][ieee]") {
  for (int it = 0; it < kGraphs; ++it) {
    std::vector<uint32_t> bits[2];
    for (bool fusion : {true, false}) {
      kiln::options().fusion = fusion;
      kiln::Generator g(kSeed + 7919 * static_cast<uint64_t>(it));
      Builder b(g);
      Shape s = {b.range(1, 40)};
      Tensor x = special_leaf(b, s), y = special_leaf(b, s);
      for (int d = 0; d < 4; ++d) {
        Tensor next = special_step(b, x, y);
        y = x;
        x = next;
      }
      bits[fusion] = float_bits(x);
    }
    kiln::options().fusion = true;
    INFO("seed " << kSeed << " + 7919 * " << it);
    REQUIRE(bits[0] == bits[1]);
  }
}
