// The CUDA backend behind the seam: what runs without a GPU (cache key, kernel IR -> CUBIN through
// NVRTC, the caching device pool, clean errors where a GPU is needed). The GPU paths run in
// scripts/gpu_check.sh on a machine with one.
#ifdef KILN_HAS_CUDA
#include "codegen/cuda/cuda_backend.h"
#include "codegen/cuda/device_pool.h"
#include "codegen/cuda/nvrtc_compile.h"
#include "codegen/cuda/nvrtc_library.h"
#include "ir/kernel_parser.h"
#include "test_util.h"

#include <functional>
#include <set>

using Catch::Matchers::Contains;
using kiln::Device;

namespace {

using kt::error_of;

kiln::Kernel add_kernel() {
  return kiln::parse_kernel(R"(kernel k_add(a0: f32[64], a1: f32[64], a2: f32[64] out)
  domain [64]
  %0 = index 0 : i64
  %1 = load a0[%0] : f32
  %2 = load a1[%0] : f32
  %3 = add %1, %2 : f32
  store a2[%0] = %3
)",
                            "test");
}

} // namespace

TEST_CASE("cuda backend: registered, keyed by arch, NVRTC and precision", "[cuda]") {
  const kiln::Backend* b = kiln::find_backend("cuda");
  REQUIRE(b);
  CHECK(b->device() == Device::cuda(0));
  CHECK(&b->on(Device::cuda(1)) != b);
  CHECK(b->on(Device::cuda(1)).device() == Device::cuda(1));
  std::string key = b->cache_key();
  CHECK_THAT(key, Contains("backend cuda\n") && Contains("arch sm_") && Contains("nvrtc 1") &&
                      Contains("precision ieee"));
  CHECK(key != kiln::backend_for(Device::cpu()).cache_key());
  if (!kiln::cuda::is_available()) CHECK_THAT(key, Contains("arch sm_90"));
}

TEST_CASE("cuda backend: kernel IR compiles to a CUBIN without a GPU", "[cuda]") {
  auto c = kiln::cuda::compile_cubin(add_kernel(), {.dumps = {"cuda"}});
  REQUIRE(c.payload.size() > 4);
  CHECK(c.payload.substr(0, 4) == "\x7f"
                                  "ELF");
  REQUIRE(c.dumps.size() == 1);
  CHECK(c.dumps[0].first == "cuda");
  CHECK_THAT(c.dumps[0].second, Contains("__global__"));
  CHECK(c.exe == nullptr); // loading needs the GPU
}

TEST_CASE("cuda backend: NVRTC is loaded at run time, a missing one is a clear error", "[cuda]") {
  // This machine has the toolkit: the process's NVRTC loads.
  CHECK(kiln::cuda::why_nvrtc_unavailable().empty());
  int major = 0, minor = 0;
  REQUIRE(kiln::cuda::nvrtc().version(&major, &minor) == NVRTC_SUCCESS);
  CHECK(major >= 12);
  CHECK(kiln::cuda::nvrtc_version() == fmt::format("{}.{}", major, minor));
  // A library that is not there, and one that is not NVRTC.
  CHECK_THAT(error_of([] { kiln::cuda::load_nvrtc("libkiln-no-such-nvrtc.so.13"); }),
             Contains("[cuda] NVRTC cannot be loaded from libkiln-no-such-nvrtc.so.13: ") &&
                 Contains("No such file"));
  CHECK_THAT(error_of([] { kiln::cuda::load_nvrtc("libz.so.1"); }),
             Contains("[cuda] NVRTC cannot be loaded from libz.so.1 lacks nvrtcVersion"));
}

TEST_CASE("cuda backend: without a GPU, what needs one is a clear error", "[cuda]") {
  if (kiln::cuda::is_available()) {
    WARN("skipped: this machine has a CUDA GPU");
    return;
  }
  const kiln::Backend& b = *kiln::find_backend("cuda");
  CHECK(b.device_count() == 0);
  CHECK_FALSE(b.why_unavailable().empty());
  for (auto& e : {error_of([&] { b.allocate(64); }), error_of([&] { b.compile(add_kernel(), {}); }),
                  error_of([&] { b.load(add_kernel(), "not a cubin"); })})
    CHECK_THAT(e, Contains("[cuda] no CUDA device is available"));
  CHECK_THAT(error_of([] { kiln::backend_for(Device::cuda(0)); }),
             Contains("[device] no CUDA device is available for cuda:0") &&
                 Contains(b.why_unavailable()));
}

TEST_CASE("cuda backend: the device pool reuses blocks by size class", "[cuda]") {
  using kiln::cuda::DevicePool;
  CHECK(DevicePool::size_class(1) == 512);
  CHECK(DevicePool::size_class(513) == 1024);
  CHECK(DevicePool::size_class(1 << 20) == 1 << 20);
  CHECK(DevicePool::size_class((1 << 20) + 1) == 2 << 20);
  CHECK(DevicePool::size_class((5 << 20) + 3) == 6 << 20);

  // A fake device of 4 KiB handing out addresses; frees are recorded.
  size_t used = 0;
  uint64_t next = 0x1000;
  std::set<uint64_t> freed;
  DevicePool pool(
      [&](size_t bytes) -> uint64_t {
        if (used + bytes > 4096) return 0;
        used += bytes;
        uint64_t p = next;
        next += bytes;
        return p;
      },
      [&](uint64_t p) {
        freed.insert(p);
        used -= DevicePool::size_class(1000); // only 1 KiB blocks are freed below
      });
  uint64_t a = pool.take(1000), b = pool.take(900);
  CHECK(a != b);
  pool.give(a, 1000);
  CHECK(pool.take(1024) == a); // same class: reused, no new allocation
  CHECK(pool.stats().reuses == 1);
  CHECK(pool.stats().fresh == 2);
  pool.give(a, 1000);
  pool.give(b, 900);
  CHECK(pool.stats().bytes_cached == 2048);
  // 4 KiB do not fit next to 2 KiB cached: the cache is returned and the allocation retried.
  uint64_t big = pool.take(4096);
  CHECK(big != 0);
  CHECK(freed == std::set<uint64_t>{a, b});
  CHECK(pool.stats().bytes_cached == 0);
  CHECK(pool.take(600) == 0); // the device is full
}
#endif
