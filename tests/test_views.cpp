// Views and movement (reshape, permute, transpose, expand, squeeze, unsqueeze, flatten, slice, pad,
// cat, stack, contiguous) and matmul, against the reference interpreter and hand values.
#include "test_util.h"

#include <numeric>

using namespace kt;
using kiln::Tensor;

namespace {

std::vector<double> iota_vals(int64_t n, double start = 0) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Host-side permute of a contiguous row-major array.
std::vector<double> host_permute(const std::vector<double>& v, const Shape& s,
                                 const std::vector<int>& perm) {
  Shape os;
  for (int p : perm) os.push_back(s[p]);
  std::vector<int64_t> is = kiln::contiguous_strides(s);
  std::vector<double> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    int64_t rem = static_cast<int64_t>(k), src = 0;
    for (int d = static_cast<int>(os.size()) - 1; d >= 0; --d) {
      src += (rem % os[d]) * is[perm[d]];
      rem /= os[d];
    }
    out[k] = v[src];
  }
  return out;
}

} // namespace

TEST_CASE("reshape and view", "[views]") {
  Tensor x = kiln::arange(0, 24).reshape({2, 3, 4});
  CHECK(x.shape() == Shape{2, 3, 4});
  Tensor a = x.reshape({4, -1});
  CHECK(a.shape() == Shape{4, 6});
  check_values(a, iota_vals(24));
  CHECK(x.view({-1}).shape() == Shape{24});
  CHECK(x.reshape({2, -1, 2}).shape() == Shape{2, 6, 2});
  CHECK(x.reshape({-1, 1, 1}).shape() == Shape{24, 1, 1});
  CHECK(kiln::scalar_tensor(3).reshape({1, 1}).shape() == Shape{1, 1});
  CHECK(kiln::tensor({7.f}).reshape({}).shape() == Shape{});
  CHECK(kiln::zeros({0, 4}).reshape({-1, 2}).shape() == Shape{0, 2});
  check_vs_reference(x.reshape({6, 4}) * 2);
  check_vs_reference(x.view({3, 8}).sum({1}), 1e-5, 1e-5);
}

TEST_CASE("permute and transpose", "[views]") {
  Tensor x = kiln::arange(0, 24).reshape({2, 3, 4});
  std::vector<double> v = iota_vals(24);
  for (std::vector<int> perm :
       {std::vector<int>{2, 0, 1}, {1, 0, 2}, {0, 2, 1}, {2, 1, 0}, {1, 2, 0}}) {
    INFO("perm " << perm[0] << perm[1] << perm[2]);
    Tensor p = x.permute({perm[0], perm[1], perm[2]});
    CHECK(p.shape() == Shape{x.shape()[perm[0]], x.shape()[perm[1]], x.shape()[perm[2]]});
    check_values(p, host_permute(v, {2, 3, 4}, perm));
    check_vs_reference(p + 1);
  }
  check_values(x.permute({-1, 0, 1}), host_permute(v, {2, 3, 4}, {2, 0, 1}));
  check_values(x.transpose(0, 2), host_permute(v, {2, 3, 4}, {2, 1, 0}));
  check_values(x.transpose(-1, -2), host_permute(v, {2, 3, 4}, {0, 2, 1}));
  Tensor m = kiln::tensor({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  check_values(m.transpose(0, 1), {1, 4, 2, 5, 3, 6});
  CHECK(m.transpose(1, 1).shape() == Shape{2, 3});
  CHECK(kiln::tensor({1.f, 2.f}).transpose(0, -1).shape() == Shape{2});
}

TEST_CASE("expand", "[views]") {
  Tensor c = kiln::tensor<float>({1, 2, 3}, Shape{3, 1});
  Tensor e = c.expand({3, 4});
  CHECK(e.shape() == Shape{3, 4});
  check_values(e, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  check_values(kiln::tensor({1.f, 2.f}).expand({2, 2}), {1, 2, 1, 2});
  CHECK(kiln::tensor({1.f, 2.f}).expand({2, 3, 2}).shape() == Shape{2, 3, 2});
  CHECK(c.expand({-1, 5}).shape() == Shape{3, 5});
  CHECK(c.expand({2, -1, 5}).shape() == Shape{2, 3, 5});
  CHECK(kiln::scalar_tensor(4.0).expand({2, 2}).to_vector<float>() ==
        std::vector<float>{4, 4, 4, 4});
  kiln::manual_seed(21);
  Tensor r = random_input({1, 3, 1}, DType::F32);
  check_vs_reference(r.expand({2, 3, 4}) * random_input({2, 3, 4}, DType::F32));
  check_vs_reference(r.expand({5, 2, 3, 4}).sum({0, 3}), 1e-5, 1e-5);
}

TEST_CASE("squeeze, unsqueeze and flatten", "[views]") {
  Tensor x = kiln::arange(0, 6).reshape({1, 2, 1, 3});
  CHECK(x.squeeze().shape() == Shape{2, 3});
  CHECK(x.squeeze(0).shape() == Shape{2, 1, 3});
  CHECK(x.squeeze(-2).shape() == Shape{1, 2, 3});
  CHECK(x.squeeze(1).shape() == Shape{1, 2, 1, 3}); // not size 1: unchanged, like PyTorch
  check_values(x.squeeze(), iota_vals(6));
  CHECK(x.unsqueeze(0).shape() == Shape{1, 1, 2, 1, 3});
  CHECK(x.unsqueeze(-1).shape() == Shape{1, 2, 1, 3, 1});
  CHECK(x.unsqueeze(4).shape() == Shape{1, 2, 1, 3, 1});
  CHECK(x.unsqueeze(2).shape() == Shape{1, 2, 1, 1, 3});
  CHECK(kiln::scalar_tensor(1.0).unsqueeze(0).shape() == Shape{1});
  CHECK(kiln::scalar_tensor(1.0).squeeze().shape() == Shape{});
  CHECK(x.flatten().shape() == Shape{6});
  CHECK(x.flatten(1, 2).shape() == Shape{1, 2, 3});
  CHECK(x.flatten(-2).shape() == Shape{1, 2, 3});
  CHECK(kiln::scalar_tensor(1.0).flatten().shape() == Shape{1});
  check_values(x.flatten(), iota_vals(6));
  check_vs_reference(x.squeeze().unsqueeze(1) *
                     kiln::tensor({1.f, 10.f}).unsqueeze(1).unsqueeze(2));
}

TEST_CASE("slice", "[views]") {
  Tensor v = kiln::arange(0, 10);
  check_values(v.slice(0, 2, 8), {2, 3, 4, 5, 6, 7});
  check_values(v.slice(0, 1, std::nullopt, 3), {1, 4, 7});
  check_values(v.slice(0, -3, std::nullopt), {7, 8, 9});
  check_values(v.slice(0, std::nullopt, -7), {0, 1, 2});
  check_values(v.slice(0, std::nullopt, std::nullopt, -1), {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  check_values(v.slice(0, 8, 2, -2), {8, 6, 4});
  check_values(v.slice(0, -1, -4, -1), {9, 8, 7});
  check_values(v.slice(0, 100, -100, -3), {9, 6, 3, 0}); // clamped like Python
  check_values(v.slice(0, -100, 100, 4), {0, 4, 8});
  CHECK(v.slice(0, 5, 5).shape() == Shape{0});
  CHECK(v.slice(0, 7, 2).shape() == Shape{0});
  CHECK(v.slice(0, 2, 7, -1).shape() == Shape{0});
  CHECK(v.slice(0, 20, 30).shape() == Shape{0});
  CHECK(v.slice(0, 7, 2).to_vector<float>().empty());
  CHECK((v.slice(0, 5, 5) + 1).to_vector<float>().empty());

  Tensor m = kiln::arange(0, 12).reshape({3, 4});
  check_values(m.slice(1, 1, 3), {1, 2, 5, 6, 9, 10});
  check_values(m.slice(-1, std::nullopt, std::nullopt, -2), {3, 1, 7, 5, 11, 9});
  check_values(m.slice(0, -1, std::nullopt), {8, 9, 10, 11});
  check_values(m.slice(0, std::nullopt, std::nullopt, -1).slice(1, 3, 0, -2), {11, 9, 7, 5, 3, 1});
  kiln::manual_seed(22);
  Tensor r = random_input({6, 7, 5}, DType::F32);
  check_vs_reference(r.slice(0, 1, 5, 2).slice(2, std::nullopt, std::nullopt, -2) * 3);
  check_vs_reference(r.slice(1, -3, std::nullopt).exp());
}

TEST_CASE("pad", "[views]") {
  Tensor m = kiln::tensor({{1.f, 2.f}, {3.f, 4.f}});
  Tensor p = kiln::pad(m, {1, 2});
  CHECK(p.shape() == Shape{2, 5});
  check_values(p, {0, 1, 2, 0, 0, 0, 3, 4, 0, 0});
  Tensor q = kiln::pad(m, {0, 1, 1, 0}, -1);
  CHECK(q.shape() == Shape{3, 3});
  check_values(q, {-1, -1, -1, 1, 2, -1, 3, 4, -1});
  CHECK(kiln::pad(m, {0, 0}).shape() == Shape{2, 2});
  Tensor pi = kiln::pad(kiln::tensor<int32_t>({5, 6}), {2, 1}, 7);
  CHECK(pi.dtype() == DType::I32);
  check_values(pi, {7, 7, 5, 6, 7});
  Tensor pb = kiln::pad(kiln::tensor<bool>({false}), {1, 1}, 1);
  CHECK(pb.dtype() == DType::Bool);
  check_values(pb, {1, 0, 1});
  kiln::manual_seed(23);
  Tensor r = random_input({3, 4, 5}, DType::F32);
  check_vs_reference(kiln::pad(r, {1, 1, 2, 0, 0, 3}, 0.5) + 1);
  check_vs_reference(kiln::pad(r.transpose(0, 2), {2, 2}).sum({-1}), 1e-5, 1e-5);
}

TEST_CASE("pad of a reduction fused into a later stage", "[views][regression]") {
  // The pad's input inlines a reduction (a stage of its own): it is read at clamped indices,
  // not through the pad's masked loads, whose mask lives in the later stage's loop.
  kiln::manual_seed(24);
  Tensor x = random_input({5}, DType::F32);
  auto build = [&] {
    Tensor p = (x.sigmoid() + 0.5).prod({-1}, true).expand({3});
    return (kiln::pad(p, {2, 1}, -0.5).sigmoid() + 0.5).prod({0}, true);
  };
  check_vs_reference(build(), 1e-5, 1e-6);
}

TEST_CASE("cat and stack", "[views]") {
  Tensor a = kiln::tensor({{1.f, 2.f}, {3.f, 4.f}}), b = kiln::tensor({{5.f, 6.f}});
  Tensor c0 = kiln::cat({a, b}, 0);
  CHECK(c0.shape() == Shape{3, 2});
  check_values(c0, {1, 2, 3, 4, 5, 6});
  Tensor c1 = kiln::cat({a, a.transpose(0, 1), a}, -1);
  CHECK(c1.shape() == Shape{2, 6});
  check_values(c1, {1, 2, 1, 3, 1, 2, 3, 4, 2, 4, 3, 4});
  check_values(kiln::cat({a}, 1), {1, 2, 3, 4});
  Tensor mixed = kiln::cat({kiln::tensor<int32_t>({1, 2}), kiln::tensor({0.5f})});
  CHECK(mixed.dtype() == DType::F32);
  check_values(mixed, {1, 2, 0.5});
  Tensor bc = kiln::cat({kiln::tensor<bool>({true, false}), kiln::tensor<bool>({false, true})});
  CHECK(bc.dtype() == DType::Bool);
  check_values(bc, {1, 0, 0, 1});
  check_values(kiln::cat({kiln::tensor<int64_t>({-1, -2}), kiln::tensor<int64_t>({-3})}),
               {-1, -2, -3});
  Tensor with_empty = kiln::cat({a, kiln::zeros({0, 2}), b});
  CHECK(with_empty.shape() == Shape{3, 2});
  check_values(with_empty, {1, 2, 3, 4, 5, 6});

  Tensor s0 = kiln::stack({a, a * 10});
  CHECK(s0.shape() == Shape{2, 2, 2});
  check_values(s0, {1, 2, 3, 4, 10, 20, 30, 40});
  Tensor s2 = kiln::stack({a, a * 10}, -1);
  CHECK(s2.shape() == Shape{2, 2, 2});
  check_values(s2, {1, 10, 2, 20, 3, 30, 4, 40});
  CHECK(kiln::stack({a, a, a}, 1).shape() == Shape{2, 3, 2});
  CHECK(kiln::stack({kiln::scalar_tensor(1.0), kiln::scalar_tensor(2.0)}).shape() == Shape{2});
  check_values(kiln::stack({kiln::scalar_tensor(1.0), kiln::scalar_tensor(2.0)}), {1, 2});

  kiln::manual_seed(24);
  Tensor x = random_input({2, 3, 4}, DType::F32), y = random_input({2, 5, 4}, DType::F32);
  check_vs_reference(kiln::cat({x, y, x.exp()}, 1));
  check_vs_reference(kiln::stack({x, x * 2, x.slice(2, std::nullopt, std::nullopt, -1)}, 2));
}

TEST_CASE("contiguous and chains of views", "[views]") {
  kiln::manual_seed(25);
  Tensor x = random_input({4, 6, 5}, DType::F32);
  Tensor t = x.transpose(0, 2);
  Tensor c = t.contiguous();
  CHECK(c.shape() == t.shape());
  check_close(c, kiln::reference(t), 0, 0);
  Tensor chain =
      x.reshape({4, 30}).transpose(0, 1).slice(0, 2, 28, 3).unsqueeze(1).expand({-1, 2, -1});
  CHECK(chain.shape() == Shape{9, 2, 4});
  check_vs_reference(chain);
  check_vs_reference(chain.reshape({-1, 4}).permute({1, 0}) * 2 + 1);
  check_vs_reference(chain.permute({2, 0, 1}).slice(1, std::nullopt, std::nullopt, -2).flatten(1));
  // Views of computed tensors, then more compute.
  Tensor y = (x * 2 + 1).exp();
  check_vs_reference(y.permute({2, 0, 1}).slice(1, 1, std::nullopt, 2) - 1, 2e-5, 1e-5);
  check_vs_reference(y.sum({1}).transpose(0, 1).reshape({-1}), 1e-4, 1e-4);
  check_vs_reference((x.sum({0}, true) - x).reshape({24, 5}).transpose(0, 1), 1e-5, 1e-5);
  // Elementwise ops with two differently-strided non-contiguous inputs.
  Tensor u = random_input({5, 6}, DType::F32), w = random_input({6, 5}, DType::F32);
  check_vs_reference(u * w.transpose(0, 1));
  check_vs_reference(kiln::maximum(u.slice(0, std::nullopt, std::nullopt, -1), w.transpose(0, 1)));
  check_vs_reference(
      kiln::where(u > 0, u.slice(1, std::nullopt, std::nullopt, -1), w.transpose(1, 0)));
  // Views on integer and bool tensors.
  Tensor i = random_input({3, 4}, DType::I32, -50, 50);
  check_vs_reference(i.transpose(0, 1).slice(0, 1, std::nullopt, 2) * 3);
  check_vs_reference((i > 0).transpose(0, 1).reshape({2, 6}));
}

// Bug: a reshape that merges dims followed by a negative-step slice along the merged dim reads the
// wrong elements (here the last element is 5 instead of 1).
TEST_CASE("negative-step slice of a merging reshape", "[views]") {
  Tensor x = kiln::tensor<float>({0, 1, 2, 3, 4, 5, 6, 7}, Shape{2, 2, 2});
  Tensor y = x.reshape({4, 2}).slice(0, std::nullopt, std::nullopt, -1);
  check_values(y, {6, 7, 4, 5, 2, 3, 0, 1}, 0, 0);
  check_vs_reference(y);
}

TEST_CASE("long chain of views of views", "[views]") {
  kiln::manual_seed(27);
  Tensor x = random_input({4, 6, 5}, DType::F32);
  Tensor chain = x.reshape({4, 30})
                     .transpose(0, 1)
                     .slice(0, 2, 28, 3)
                     .unsqueeze(1)
                     .expand({-1, 2, -1})
                     .reshape({-1, 4})
                     .permute({1, 0})
                     .slice(1, std::nullopt, std::nullopt, -1);
  CHECK(chain.shape() == Shape{4, 18});
  check_vs_reference(chain);
  check_vs_reference(chain * 2 + 1);
  check_vs_reference(kiln::pad(chain.flatten().reshape({6, 12}), {1, 0, 0, 2}, 3.0).sum({0}), 1e-5,
                     1e-5);
}

TEST_CASE("matmul hand values", "[matmul]") {
  Tensor a = kiln::tensor({{1.f, 2.f}, {3.f, 4.f}}), b = kiln::tensor({{5.f, 6.f}, {7.f, 8.f}});
  check_values(kiln::matmul(a, b), {19, 22, 43, 50});
  check_values(a.matmul(b.transpose(0, 1)), {17, 23, 39, 53});
  Tensor dot = kiln::matmul(kiln::tensor({1.f, 2.f, 3.f}), kiln::tensor({4.f, 5.f, 6.f}));
  CHECK(dot.shape() == Shape{});
  CHECK(dot.item<float>() == 32.f);
  Tensor vm = kiln::matmul(kiln::tensor({1.f, 2.f}), a);
  CHECK(vm.shape() == Shape{2});
  check_values(vm, {7, 10});
  Tensor mv = kiln::matmul(a, kiln::tensor({1.f, 2.f}));
  CHECK(mv.shape() == Shape{2});
  check_values(mv, {5, 11});
  Tensor ia = kiln::tensor<int32_t>({{1, -2}, {3, 4}}),
         ib = kiln::tensor<int32_t>({{5, 6}, {7, 8}});
  Tensor ip = kiln::matmul(ia, ib);
  CHECK(ip.dtype() == DType::I32);
  check_values(ip, {-9, -10, 43, 50});
  Tensor mixed = kiln::matmul(ia, b);
  CHECK(mixed.dtype() == DType::F32);
  check_values(mixed, {-9, -10, 43, 50});
}

TEST_CASE("matmul shapes and dtypes against the reference", "[matmul]") {
  kiln::manual_seed(26);
  auto r = [](Shape s, DType t = DType::F32) { return random_input(s, t, -2, 2); };
  const double rt = 1e-4, at = 1e-5;
  SECTION("1-D and 2-D") {
    check_vs_reference(kiln::matmul(r({7}), r({7})), rt, at);
    check_vs_reference(kiln::matmul(r({7}), r({7, 5})), rt, at);
    check_vs_reference(kiln::matmul(r({5, 7}), r({7})), rt, at);
    check_vs_reference(kiln::matmul(r({5, 7}), r({7, 3})), rt, at);
    check_vs_reference(kiln::matmul(r({1, 7}), r({7, 1})), rt, at);
    check_vs_reference(kiln::matmul(r({33, 65}), r({65, 17})), rt, 1e-4);
  }
  SECTION("batched with broadcast batch dims") {
    Tensor x = kiln::matmul(r({2, 1, 3, 4}), r({5, 4, 6}));
    CHECK(x.shape() == Shape{2, 5, 3, 6});
    check_vs_reference(x, rt, at);
    check_vs_reference(kiln::matmul(r({3, 4, 5}), r({5, 2})), rt, at);
    check_vs_reference(kiln::matmul(r({4, 5}), r({3, 5, 2})), rt, at);
    Tensor v = kiln::matmul(r({5}), r({2, 3, 5, 4}));
    CHECK(v.shape() == Shape{2, 3, 4});
    check_vs_reference(v, rt, at);
    Tensor w = kiln::matmul(r({2, 3, 5, 4}), r({4}));
    CHECK(w.shape() == Shape{2, 3, 5});
    check_vs_reference(w, rt, at);
  }
  SECTION("transposed and sliced operands") {
    Tensor a = r({6, 5}), b = r({4, 6});
    check_vs_reference(kiln::matmul(a.transpose(0, 1), b.transpose(0, 1)), rt, at);
    check_vs_reference(kiln::matmul(r({3, 4, 6}).transpose(-1, -2), r({3, 4, 2})), rt, at);
    check_vs_reference(kiln::matmul(a.slice(0, std::nullopt, std::nullopt, 2), r({5, 3})), rt, at);
    check_vs_reference(kiln::matmul(r({1, 5}).expand({3, 5}), a.transpose(0, 1)), rt, at);
    check_vs_reference(kiln::matmul((a * 2 + 1).transpose(0, 1), (b - 1).transpose(0, 1)).relu(),
                       rt, at);
  }
  SECTION("integer and f64") {
    for (DType t : {DType::I32, DType::I64, DType::U8, DType::F64}) {
      INFO("dtype " << dtype_s(t));
      Tensor a = random_input({4, 6}, t, -9, 9), b = random_input({6, 3}, t, -9, 9);
      Tensor m = kiln::matmul(a, b);
      CHECK(m.dtype() == t);
      check_vs_reference(m, 1e-12, 1e-12);
      check_vs_reference(kiln::matmul(a.transpose(0, 1), a), 1e-12, 1e-12);
    }
  }
}

// matmul with inner dim K == 1 (an outer product: a reduction of extent 1).
TEST_CASE("matmul with inner dim 1", "[matmul]") {
  Tensor col = kiln::tensor<float>({1, 2, 3}, Shape{3, 1}),
         row = kiln::tensor<float>({4, 5}, Shape{1, 2});
  check_values(kiln::matmul(col, row), {4, 5, 8, 10, 12, 15});
  kiln::manual_seed(28);
  check_vs_reference(
      kiln::matmul(random_input({2, 5, 1}, DType::F32), random_input({1, 3}, DType::F32)));
  check_vs_reference(kiln::matmul(random_input({1}, DType::F32), random_input({1, 4}, DType::F32)));
  check_vs_reference(
      kiln::matmul(random_input({4, 1}, DType::I32, -5, 5), random_input({1}, DType::I32, -5, 5)));
}

TEST_CASE("flip, split and chunk are views with PyTorch's pieces", "[views]") {
  Tensor x = kiln::arange(0, 12).reshape({3, 4});
  CHECK(kiln::flip(x, {0}).to_vector<int64_t>() ==
        std::vector<int64_t>{8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
  CHECK(kiln::flip(x, {-1, 0}).to_vector<int64_t>() ==
        std::vector<int64_t>{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(kiln::flip(x, {}).to_vector<int64_t>() == x.to_vector<int64_t>());
  CHECK_THAT(kt::error_of([&] { kiln::flip(x, {1, -1}); }),
             Catch::Contains("[flip]") && Catch::Contains("twice"));
  // split: pieces of 3 along the last axis of 4 -> 3 and 1.
  auto pieces = kiln::split(x, 3, 1);
  REQUIRE(pieces.size() == 2);
  CHECK(pieces[0].shape() == kiln::Shape{3, 3});
  CHECK(pieces[1].to_vector<int64_t>() == std::vector<int64_t>{3, 7, 11});
  // chunk: 3 chunks of 4 -> 2, 2 (ceil(4/3) = 2, and they run out), as in PyTorch.
  auto chunks = kiln::chunk(x, 3, -1);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[1].to_vector<int64_t>() == std::vector<int64_t>{2, 3, 6, 7, 10, 11});
  CHECK(kiln::chunk(x, 3, 0).size() == 3);
  CHECK(kiln::split(kiln::zeros({0, 2}), 2).size() == 1);
  CHECK_THAT(kt::error_of([&] { kiln::split(x, 0); }),
             Catch::Contains("[split]") && Catch::Contains("positive"));
  CHECK_THAT(kt::error_of([&] { kiln::chunk(x, 0); }), Catch::Contains("[chunk]"));
  CHECK_THAT(kt::error_of([&] { kiln::chunk(x, 2, 2); }), Catch::Contains("[chunk]"));
  // Gradients reach the pieces' places, and a flipped view's its own.
  Tensor w = kiln::tensor({1.0, 2.0, 3.0, 4.0, 5.0}).requires_grad_();
  auto parts = kiln::split(w, 2);
  (parts[0].sum() + 10 * parts[2].sum() + (kiln::flip(w, {0}) * kiln::arange(0, 5)).sum())
      .backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{5, 4, 2, 1, 10});
}
