// Runtime behaviour: program caching, multi-root realize, realizing held intermediates, printing,
// reading values back, thread-count independence and large tensors against the reference.
#include "test_util.h"

#include "runtime/disk_cache.h"

#include <cstring>
#include <limits>

using namespace kt;
using kiln::Tensor;

namespace {

// Restores the thread count when a test ends, even on failure.
struct ThreadGuard {
  int saved = kiln::num_threads();
  ~ThreadGuard() { kiln::set_num_threads(saved); }
};

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

} // namespace

TEST_CASE("a repeated identical step compiles once", "[runtime][cache]") {
  kiln::manual_seed(31);
  // An unusual shape and constant so no earlier test compiled this exact program.
  Tensor w = random_input({13, 7}, DType::F32);
  kiln::Stats before = kiln::stats();
  for (int i = 0; i < 100; ++i) {
    Tensor x = random_input({13, 7}, DType::F32); // fresh data each step
    Tensor y = ((x * w) + 0.3125).tanh().sum({1});
    Tensor ref = kiln::reference(y);
    y.realize();
    REQUIRE(y.is_realized());
    if (i % 25 == 0) check_close(y, ref, 1e-5, 1e-5);
  }
  kiln::Stats after = kiln::stats();
  CHECK(after.programs_compiled - before.programs_compiled == 1);
  CHECK(after.program_cache_hits - before.program_cache_hits == 99);
  CHECK(after.kernels_launched - before.kernels_launched >= 100);

  // A different shape is a different program; the same shape again is a cache hit.
  kiln::Stats b2 = kiln::stats();
  Tensor x2 = random_input({13, 8}, DType::F32), w2 = random_input({13, 8}, DType::F32);
  ((x2 * w2) + 0.3125).tanh().sum({1}).realize();
  CHECK(kiln::stats().programs_compiled - b2.programs_compiled == 1);
  Tensor x3 = random_input({13, 8}, DType::F32);
  ((x3 * w2) + 0.3125).tanh().sum({1}).realize();
  CHECK(kiln::stats().programs_compiled - b2.programs_compiled == 1);
  CHECK(kiln::stats().program_cache_hits - b2.program_cache_hits == 1);
}

TEST_CASE("equal kernels of one program compile once", "[runtime][cache]") {
  // Repeated layers make equal kernels; the program compiles its kernels in parallel, and a
  // thread that meets a kernel another thread is compiling waits for it.
  kiln::DiskCacheOptions saved = kiln::disk_cache_options();
  kiln::disk_cache_options().enabled = false;
  std::vector<Tensor> xs, ys;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(random_input({19, 11}, DType::F32)); // a shape no other test uses
    ys.push_back((xs.back() * 1.375).exp().sum({1}));
  }
  std::vector<Tensor> refs;
  for (const Tensor& y : ys) refs.push_back(kiln::reference(y));
  kiln::Stats before = kiln::stats();
  kiln::realize(ys);
  kiln::Stats after = kiln::stats();
  kiln::disk_cache_options() = saved;
  CHECK(after.kernels_compiled - before.kernels_compiled == 1);
  CHECK(after.kernel_cache_hits - before.kernel_cache_hits == 3);
  for (size_t i = 0; i < ys.size(); ++i) check_close(ys[i], refs[i], 1e-5, 1e-5);
}

TEST_CASE("float scalars change values but not programs", "[runtime][cache]") {
  kiln::manual_seed(37);
  Tensor x = random_input({11, 3}, DType::F32);
  std::vector<float> xv = x.to_vector<float>();
  kiln::Stats before = kiln::stats();
  for (double c : {0.5, 1.5, -2.25, 3.0}) {
    INFO("c = " << c);
    Tensor y = x * c + (c + 0.125);
    std::vector<double> expect;
    for (float v : xv)
      expect.push_back(static_cast<float>(static_cast<float>(v * static_cast<float>(c)) +
                                          static_cast<float>(c + 0.125)));
    check_values(y, expect, 1e-6, 1e-6);
  }
  // Float scalars are kernel parameters: one program for all four steps.
  CHECK(kiln::stats().programs_compiled - before.programs_compiled == 1);
  // Values land in the right slots when a cached program's scalars swap places.
  check_values(kiln::tensor({2.f}) * 2.5 + 0.5, {5.5});
  check_values(kiln::tensor({2.f}) * 0.5 + 2.5, {3.5});
  // Integer scalars are compiled in but must still give the right values.
  check_values(kiln::tensor<int32_t>({1, 2}) + 3, {4, 5});
  check_values(kiln::tensor<int32_t>({1, 2}) + 4, {5, 6});
  // f64 scalars keep double precision.
  std::vector<double> d = (kiln::tensor<double>({1.0, 3.0}) * 0.1).to_vector<double>();
  CHECK(d[0] == 1.0 * 0.1);
  CHECK(d[1] == 3.0 * 0.1);
  check_values(kiln::where(kiln::tensor<bool>({true, false}), 1.5, kiln::tensor({7.f, 8.f})),
               {1.5, 8});
  check_values(kiln::where(kiln::tensor<bool>({true, false}), 2.5, kiln::tensor({7.f, 8.f})),
               {2.5, 8});
  check_values(kiln::full({2}, 2.5) + kiln::full({2}, 3.5), {6, 6});
}

TEST_CASE("reset_stats clears the counters", "[runtime][cache]") {
  (random_input({3}, DType::F32) * 2).realize();
  kiln::reset_stats();
  kiln::Stats s = kiln::stats();
  CHECK(s.programs_compiled == 0);
  CHECK(s.program_cache_hits == 0);
  CHECK(s.kernels_launched == 0);
  CHECK_FALSE(s.str().empty());
}

TEST_CASE("realizing twice or realizing a leaf does nothing", "[runtime]") {
  Tensor x = random_input({4, 5}, DType::F32);
  CHECK(x.is_realized());
  Tensor y = (x + 1).exp();
  CHECK_FALSE(y.is_realized());
  y.realize();
  CHECK(y.is_realized());
  kiln::Stats before = kiln::stats();
  y.realize();
  x.realize();
  CHECK(kiln::stats().programs_compiled == before.programs_compiled);
  CHECK(kiln::stats().program_cache_hits == before.program_cache_hits);
  CHECK(kiln::stats().kernels_launched == before.kernels_launched);
}

TEST_CASE("reference does not realize its argument", "[runtime]") {
  Tensor y = random_input({3, 3}, DType::F32) * 3;
  Tensor r = kiln::reference(y);
  CHECK_FALSE(y.is_realized());
  CHECK(r.is_realized());
  check_close(y, r);
}

TEST_CASE("realize of several roots", "[runtime]") {
  kiln::manual_seed(32);
  Tensor x = random_input({6, 9}, DType::F32);
  Tensor a = (x * 2).exp(), b = x.sum({1}), c = a.max({0}) - b.mean();
  Tensor ra = kiln::reference(a), rb = kiln::reference(b), rc = kiln::reference(c);
  kiln::Stats before = kiln::stats();
  kiln::realize({a, b, c});
  kiln::Stats after = kiln::stats();
  CHECK(a.is_realized());
  CHECK(b.is_realized());
  CHECK(c.is_realized());
  // One program for all roots.
  CHECK((after.programs_compiled + after.program_cache_hits) -
            (before.programs_compiled + before.program_cache_hits) ==
        1);
  check_close(a, ra, 2e-5, 1e-6);
  check_close(b, rb, 1e-5, 1e-5);
  check_close(c, rc, 1e-5, 1e-4);
  // Same root twice, and realized roots mixed in.
  Tensor d = x - 1;
  kiln::realize({d, d, a});
  CHECK(d.is_realized());
  check_values(d.sum(), {kiln::reference((x - 1).sum()).item<double>()}, 1e-5, 1e-5);
}

TEST_CASE("intermediates held by the user are realized with the graph", "[runtime]") {
  kiln::manual_seed(33);
  Tensor x = random_input({5, 4}, DType::F32);
  Tensor a = x * 2 + 1;              // held intermediate (elementwise)
  Tensor m = a.exp().sum({1}, true); // held intermediate (reduction, keepdim)
  Tensor b = (m / 3).max();          // the root
  Tensor ra = kiln::reference(a), rm = kiln::reference(m), rb = kiln::reference(b);
  CHECK_FALSE(a.is_realized());
  b.realize();
  CHECK(b.is_realized());
  CHECK(a.is_realized());
  CHECK(m.is_realized());
  check_close(a, ra);
  check_close(m, rm, 1e-5, 1e-5);
  check_close(b, rb, 1e-5, 1e-5);
  // Realized intermediates now act as leaves for new graphs.
  Tensor c = a - 1;
  check_values(c.sum(), {kiln::reference(x * 2).sum().item<double>()}, 1e-5, 1e-5);
  // A held view of a computed tensor keeps giving the right values.
  Tensor v = (x * 3).transpose(0, 1);
  Tensor s = v.sum({1});
  Tensor rv = kiln::reference(v);
  s.realize();
  check_close(v, rv);
}

TEST_CASE("a held reduction without keepdim is realized with the graph", "[runtime]") {
  // Bug: x.sum({1}) (keepdim=false) is a Reshape of the Sum node; only compute nodes held by the
  // user become program outputs, so the held reduction stays unrealized (and is recomputed later).
  kiln::manual_seed(36);
  Tensor x = random_input({5, 4}, DType::F32);
  Tensor m = x.exp().sum({1});
  Tensor b = (m / 3).max();
  Tensor rm = kiln::reference(m);
  b.realize();
  CHECK(b.is_realized());
  CHECK(m.is_realized());
  check_close(m, rm, 1e-5, 1e-5);
  Tensor mean = x.mean({0});
  Tensor b2 = mean.sum();
  b2.realize();
  CHECK(mean.is_realized());
}

TEST_CASE("printing", "[runtime][print]") {
  Tensor x = kiln::tensor({{1.f, 2.f}, {3.f, 4.5f}});
  std::string s = x.str();
  INFO(s);
  CHECK(s.find("tensor(") == 0);
  CHECK(s.find("1.") != std::string::npos);
  CHECK(s.find("4.5") != std::string::npos);
  CHECK(s.find("shape=[2, 2]") != std::string::npos);
  CHECK(s.find("dtype=f32") != std::string::npos);
  std::ostringstream os;
  os << x;
  CHECK(os.str() == s);
  // Printing a lazy tensor realizes it.
  Tensor y = x * 2;
  std::string sy = y.str();
  CHECK(y.is_realized());
  CHECK(sy.find("9.") != std::string::npos);
  CHECK(sy.find("shape=[2, 2]") != std::string::npos);
  std::string si = kiln::tensor<int64_t>({-3, 7}).str();
  CHECK(si.find("-3") != std::string::npos);
  CHECK(si.find("dtype=i64") != std::string::npos);
  std::string sb = kiln::tensor<bool>({true, false}).str();
  CHECK(sb.find("True") != std::string::npos);
  CHECK(sb.find("False") != std::string::npos);
  CHECK(sb.find("dtype=bool") != std::string::npos);
  std::string s0 = kiln::scalar_tensor(3.0).str();
  CHECK(s0.find("3.") != std::string::npos);
  CHECK(s0.find("shape=[]") != std::string::npos);
  std::string big = kiln::arange(0, 5000).str();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.find("4.9990e+03") != std::string::npos); // the shown values span > 1000: scientific
  CHECK(big.find("shape=[5000]") != std::string::npos);
  CHECK(Tensor().str().find("undefined") != std::string::npos);
}

TEST_CASE("printing chooses one format per tensor, as PyTorch does", "[runtime][print]") {
  auto body = [](const Tensor& t) {
    std::string s = t.str();
    return s.substr(7, s.find(", shape=") - 7); // between "tensor(" and ", shape="
  };
  // Before: 1e-5 printed as 0.0000, 1e12 as 1000000000000., and each element had its own format.
  CHECK(body(kiln::tensor({1e-5f})) == "[1.0000e-05]");
  CHECK(body(kiln::tensor({1e12f})) == "[1.0000e+12]");
  CHECK(body(kiln::tensor({1.f, 1e-5f})) == "[1.0000e+00, 1.0000e-05]");
  CHECK(body(kiln::tensor({1.5f, 2.f})) == "[1.5000, 2.0000]");
  CHECK(body(kiln::tensor({0.1, -10.5})) == "[  0.1000, -10.5000]"); // one width, right-aligned
  CHECK(body(kiln::tensor({{1.f, 20.f}, {300.f, -4.f}})) ==
        "[[  1.,  20.],\n        [300.,  -4.]]");
  CHECK(body(kiln::tensor({0.f, -0.f})) == "[0., -0.]");
  // 2-D blocks of a 3-D tensor stand apart by a blank line.
  CHECK(body(kiln::tensor({{{1, 2}}, {{3, 4}}})) == "[[[1, 2]],\n\n        [[3, 4]]]");
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  CHECK(body(kiln::tensor({nan, inf, -inf, 1.f})) == "[nan, inf, -inf, 1.]");
  CHECK(body(kiln::tensor({-nan, 0.25f})) == "[   nan, 0.2500]");
  CHECK(body(kiln::tensor({-3, 7, 100})) == "[ -3,   7, 100]");
  CHECK(body(kiln::tensor({true, false})) == "[ True, False]");
  CHECK(body(kiln::scalar_tensor(2.5, DType::F64)) == "2.5000");
  CHECK(body(kiln::zeros({0})) == "[]");
  CHECK(body(kiln::zeros({2, 0, 3})) == "[]"); // before: "[[],\n\n        []]"
  // The format comes from the shown values only, as in torch: the middle 1e-9 is summarized away.
  Tensor v = kiln::cat({kiln::ones({600}), kiln::full({1}, 1e-9), kiln::full({600}, 2.)});
  CHECK(body(v) == "[1., 1., 1.,  ..., 2., 2., 2.]");
}

TEST_CASE("reading values back", "[runtime]") {
  CHECK(kiln::tensor({2.5f}).item<float>() == 2.5f);
  CHECK(kiln::scalar_tensor(7, DType::I32).item<int32_t>() == 7);
  CHECK((kiln::tensor({1.f, 2.f, 3.f}).sum()).item<float>() == 6.f);
  CHECK(kiln::tensor({1.f, 2.f}).sum().item<double>() == 3.0);
  CHECK(kiln::arange(0, 5, 1, DType::I64).to_vector<int64_t>() ==
        std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(kiln::tensor({1.9f, -1.9f}).to_vector<int64_t>() == std::vector<int64_t>{1, -1});
  CHECK(kiln::tensor<int32_t>({3, 4}).to_vector<double>() == std::vector<double>{3, 4});
  CHECK(kiln::tensor<bool>({true, false}).to_vector<bool>() == std::vector<bool>{true, false});
  CHECK(kiln::tensor<uint8_t>({250}).to_vector<uint8_t>() == std::vector<uint8_t>{250});
  CHECK((kiln::tensor<int32_t>({3, 4}) * 2).to_vector<int64_t>() == std::vector<int64_t>{6, 8});
  CHECK(kiln::eye(2).to_vector<float>() == std::vector<float>{1, 0, 0, 1});
  CHECK(kiln::full({2}, 1.5).to_vector<float>() == std::vector<float>{1.5f, 1.5f});
  CHECK(kiln::arange(1, 2, 0.25).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  std::vector<float> host{1, 2, 3, 4, 5, 6};
  Tensor blob = kiln::from_blob(host.data(), {2, 3}, DType::F32);
  host[0] = 100; // from_blob copies
  CHECK(blob.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("seeded generators are reproducible", "[runtime][random]") {
  kiln::manual_seed(42);
  std::vector<float> a = kiln::randn({8}).to_vector<float>();
  kiln::manual_seed(42);
  std::vector<float> b = kiln::randn({8}).to_vector<float>();
  CHECK(a == b);
  kiln::Generator g1(7), g2(7);
  CHECK(kiln::rand({5}, DType::F64, &g1).to_vector<double>() ==
        kiln::rand({5}, DType::F64, &g2).to_vector<double>());
  std::vector<int64_t> r = kiln::randint(-3, 4, {1000}, DType::I64, &g1).to_vector<int64_t>();
  for (int64_t v : r) REQUIRE((v >= -3 && v < 4));
  std::vector<double> u = kiln::rand({1000}, DType::F64, &g1).to_vector<double>();
  for (double v : u) REQUIRE((v >= 0 && v < 1));
  // f32 stays below 1 too: a double in [0, 1) rounded to f32 gave 1 in this draw.
  kiln::Generator g3(0);
  std::vector<float> f = kiln::rand({533110}, DType::F32, &g3).to_vector<float>();
  CHECK(*std::max_element(f.begin(), f.end()) < 1.0f);
  CHECK(*std::min_element(f.begin(), f.end()) >= 0.0f);
}

TEST_CASE("results do not depend on the thread count", "[runtime][threads]") {
  ThreadGuard guard;
  kiln::manual_seed(34);
  Tensor x = random_input({4096, 1024}, DType::F32);
  auto row_sums = [&] { return ((x * 1.5 - 0.5).exp() * 0.1).sum({1}).to_vector<float>(); };
  auto col_max = [&] { return (x * x).max({0}).to_vector<float>(); };
  auto total = [&] { return (x + 0.25).sum().to_vector<float>(); };
  kiln::set_num_threads(1);
  CHECK(kiln::num_threads() == 1);
  std::vector<float> r1 = row_sums(), c1 = col_max(), t1 = total();
  kiln::set_num_threads(2);
  CHECK(kiln::num_threads() == 2);
  std::vector<float> r2 = row_sums(), c2 = col_max(), t2 = total();
  CHECK(bitwise_equal(r1, r2));
  CHECK(bitwise_equal(c1, c2));
  CHECK(bitwise_equal(t1, t2));

  // A 16M-element elementwise op.
  Tensor big = random_input({1 << 24}, DType::F32);
  auto ew = [&] { return (big * 0.5 + 1).sqrt().to_vector<float>(); };
  kiln::set_num_threads(1);
  std::vector<float> e1 = ew();
  kiln::set_num_threads(2);
  std::vector<float> e2 = ew();
  CHECK(bitwise_equal(e1, e2));
  CHECK(e1.size() == (1u << 24));
}

TEST_CASE("large tensors agree with the reference", "[runtime][large]") {
  ThreadGuard guard;
  kiln::set_num_threads(2);
  kiln::manual_seed(35);
  Tensor x = random_input({1 << 20}, DType::F32);
  check_vs_reference((x * 2 - 1).tanh() + x.abs().sqrt(), 2e-5, 1e-6);
  Tensor m = x.reshape({1024, 1024});
  check_vs_reference(m.sum({1}), 1e-4, 1e-4);
  check_vs_reference(m.sum({0}), 1e-4, 1e-4);
  check_vs_reference(m.max({0}), 0, 0);
  check_vs_reference(m.sum(), 1e-4, 1e-2);
  check_vs_reference(m.transpose(0, 1).sum({1}), 1e-4, 1e-4);
  Tensor xi = random_input({1 << 20}, DType::I32, -100, 100);
  check_vs_reference(xi.sum());
  check_vs_reference(xi.reshape({256, 4096}).max({1}));
}
