// The backend seam (codegen/backend.h): devices, the backends built in, KILN_BACKEND, and the
// kernel-IR interpreter against the LLVM backend on every kernel family.
#include "test_util.h"

#include "codegen/backend.h"
#include "cuda_sweep.h"
#include "ir/kernel_parser.h"

#include <cstring>

using Catch::Matchers::Contains;
using kiln::Device;
using kiln::Tensor;

namespace {

// Kernels of programs compiled while it lives run through `name`.
struct BackendGuard {
  std::string saved = kiln::options().backend;
  explicit BackendGuard(const std::string& name) { kiln::options().backend = name; }
  ~BackendGuard() { kiln::options().backend = saved; }
};

using kt::error_of;

} // namespace

TEST_CASE("device: names and parsing", "[backend]") {
  CHECK(kiln::device_name(Device::cpu()) == "cpu");
  CHECK(kiln::device_name(Device::cuda(1)) == "cuda:1");
  CHECK(kiln::parse_device("cpu") == Device::cpu());
  CHECK(kiln::parse_device("cuda") == Device::cuda(0));
  CHECK(kiln::parse_device("cuda:3") == Device::cuda(3));
  CHECK(Device::cuda(0) != Device::cuda(1));
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "CPU"})
    CHECK_THAT(error_of([&] { kiln::parse_device(bad); }),
               Contains("[device]") && Contains(bad) && Contains("cuda:N"));
}

TEST_CASE("backends: the built-in ones, chosen by name", "[backend]") {
  REQUIRE(kiln::find_backend("interp"));
  CHECK(kiln::find_backend("interp")->device() == Device::cpu());
  CHECK(kiln::find_backend("nope") == nullptr);
#if KILN_HAS_LLVM
  CHECK(kiln::backend_for(Device::cpu()).name() == "llvm");
#else
  CHECK(kiln::backend_for(Device::cpu()).name() == "interp");
  CHECK(kiln::find_backend("llvm") == nullptr);
#endif
  CHECK(kiln::backend_for(Device::cpu(), "interp").name() == "interp");
  CHECK_THAT(error_of([] { kiln::backend_for(Device::cpu(), "nope"); }),
             Contains("[backend]") && Contains("nope") && Contains("interp"));
  if (!kiln::cuda::is_available())
    CHECK_THAT(error_of([] { kiln::backend_for(Device::cuda(0)); }),
               Contains("[device] no CUDA device is available") && Contains("cuda:0"));
  // Cache keys differ between backends, so one's payload is never loaded by another.
  CHECK(kiln::backend_for(Device::cpu()).cache_key() != "");
}

TEST_CASE("backends: memory allocates and copies", "[backend]") {
  for (std::string_view name : kiln::backend_names()) {
    const kiln::Backend& b = *kiln::find_backend(name);
    if (b.device_count() == 0) continue; // CUDA without a GPU (tests/test_cuda_backend.cpp)
    auto s = b.allocate(5 * sizeof(float));
    float in[5] = {1, -2, 3.5f, 4, 5}, out[5] = {};
    b.copy_from_host(*s, in, sizeof in);
    b.copy_to_host(out, *s, sizeof out);
    CHECK(std::memcmp(in, out, sizeof in) == 0);
  }
}

TEST_CASE("interp backend: runs a hand-written kernel with a stage and a parameter", "[backend]") {
  // Row sums of a [3, 4] buffer scaled by a parameter, and each row's argmax.
  kiln::Kernel k =
      kiln::parse_kernel(R"(kernel k_rows(a0: f32[12], a1: f32[3] out, a2: i64[3] out, p0: f32)
  domain [3]
  stage 0 [4]
  %0 = index 0 : i64
  %1 = rindex 0.0 : i64
  %2 = const 4 : i64
  %3 = mul %0, %2 : i64
  %4 = add %3, %1 : i64
  %5 = load a0[%4] : f32
  %6 = sum %5 @0 : f32
  %7 = argmax %5, %1 @0 : i64
  %8 = param p0 : f32
  %9 = mul %6, %8 : f32
  store a1[%0] = %9
  store a2[%0] = %7
)");
  const kiln::Backend& b = *kiln::find_backend("interp");
  float x[12] = {1, 2, 3, 4, 0, -1, 7, 7, NAN, 1, 2, 3}, sums[3] = {};
  int64_t arg[3] = {};
  uint64_t scale = 0;
  float half = 0.5f;
  std::memcpy(&scale, &half, sizeof half);
  void* args[] = {x, sums, arg, &scale};
  b.launch(*b.compile(k, {}).exe, args);
  CHECK(sums[0] == 5.0f);
  CHECK(sums[1] == 6.5f);
  CHECK(std::isnan(sums[2]));
  CHECK(arg[0] == 3);
  CHECK(arg[1] == 2); // the first of two equal maxima
  CHECK(arg[2] == 0); // NaN counts as the max
}

TEST_CASE("interp backend: a read outside a buffer is an error, not a crash", "[backend]") {
  kiln::Kernel k = kiln::parse_kernel(R"(kernel k_oob(a0: f32[4], a1: f32[4] out)
  domain [4]
  %0 = index 0 : i64
  %1 = const 1 : i64
  %2 = add %0, %1 : i64
  %3 = load a0[%2] : f32
  store a1[%0] = %3
)");
  const kiln::Backend& b = *kiln::find_backend("interp");
  float x[4] = {1, 2, 3, 4}, y[4] = {};
  void* args[] = {x, y};
  auto exe = b.compile(k, {}).exe;
  CHECK_THAT(error_of([&] { b.launch(*exe, args); }), Contains("[interp]") && Contains("k_oob") &&
                                                          Contains("a0[4]") &&
                                                          Contains("4 elements"));
}

TEST_CASE("interp backend: every kernel family of the CUDA sweep matches the LLVM backend",
          "[backend]") {
  if (!kiln::find_backend("llvm")) {
    WARN("skipped: no LLVM backend to compare with (the tests against reference() still run)");
    return;
  }
  // Seeded twice alike, cases() traces the same graphs with the same data.
  kiln::manual_seed(11);
  std::vector<std::vector<std::vector<double>>> expected;
  {
    BackendGuard llvm("llvm");
    for (auto& c : kiln::cuda_sweep::cases()) {
      auto& e = expected.emplace_back();
      for (const Tensor& t : c.outputs) e.push_back(t.to_vector<double>());
    }
  }
  BackendGuard interp("interp");
  kiln::Stats before = kiln::stats();
  kiln::manual_seed(11);
  auto cases = kiln::cuda_sweep::cases();
  REQUIRE(cases.size() == expected.size());
  for (size_t i = 0; i < cases.size(); ++i)
    for (size_t o = 0; o < cases[i].outputs.size(); ++o) {
      const Tensor& t = cases[i].outputs[o];
      INFO(cases[i].name << " output " << o << " " << kt::dtype_s(t.dtype()));
      std::vector<double> got = t.to_vector<double>();
      bool f32 = t.dtype() == kiln::DType::F32, exact = !kiln::is_float(t.dtype());
      size_t bad = 0;
      for (size_t j = 0; j < got.size(); ++j)
        if (exact ? got[j] != expected[i][o][j]
                  : !kt::values_close(got[j], expected[i][o][j], f32 ? 1e-4 : 1e-10,
                                      f32 ? 1e-4 : 1e-10))
          ++bad;
      CHECK(bad == 0);
    }
  // The interpreter compiled programs of its own (KILN_BACKEND is part of the program key).
  CHECK(kiln::stats().programs_compiled > before.programs_compiled);
}
