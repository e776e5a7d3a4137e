// Hostile sizes and inputs: sizes that overflow, files and folders that could hang or throw
// something other than kiln::Error, and fork(). Each case ends in a kiln::Error or a result,
// quickly, never in a signal or a wait.
#include "ir_check.h"
#include "test_util.h"

#include "codegen/host/allocator.h"
#include "ir/kernel_parser.h"
#include "runtime/disk_cache.h"
#include "tools/opt_driver.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <regex>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using kiln::DType;
using kiln::Shape;
using kiln::Tensor;

namespace {

constexpr int64_t k62 = int64_t(1) << 62;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

using kt::error_of;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "kiln_robust_XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

long max_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

} // namespace

TEST_CASE("shapes whose element or byte counts overflow are errors at the call", "[robust]") {
  using Catch::Contains;
  CHECK_THAT(error_of([] { kiln::ones({k62}); }), Contains("[full]") && Contains("too large"));
  CHECK_THAT(error_of([] {
               kiln::rand({int64_t(1) << 31, int64_t(1) << 31});
             }),
             Contains("[rand]"));
  // 4 * (2^62 + 1) wraps to 4 in int64: the element counts of the two shapes looked equal.
  CHECK_THAT(error_of([] { kiln::ones({4}).reshape({k62 + 1, 4}); }), Contains("[reshape]"));
  CHECK_THAT(error_of([] { kiln::eye(k62, 2); }), Contains("[eye]"));
  CHECK_THAT(error_of([] { kiln::zeros({2, -3}); }), Contains("negative"));
  CHECK_THAT(error_of([] {
               kiln::from_blob(nullptr, {k62, k62, 0}, DType::U8);
             }),
             Contains("[from_blob]"));
  Tensor one = kiln::ones({1});
  CHECK_THAT(error_of([&] { one.expand({k62}); }), Contains("[expand]"));
  CHECK_THAT(error_of([&] { kiln::pad(one, {kMax, 1}); }), Contains("[pad]"));
  // Each part fits (u8, lazily expanded): their sum along the axis does not.
  Tensor quarter = kiln::zeros({int64_t(1) << 61}, DType::U8);
  CHECK_THAT(error_of([&] { kiln::cat({quarter, quarter, quarter, quarter}); }), Contains("[cat]"));
  CHECK_THAT(error_of([&] { kiln::cat({quarter, quarter}); }), Contains("too large"));
  Tensor a = kiln::zeros({int64_t(1) << 21, 1, int64_t(1) << 20, 1});
  Tensor b = kiln::zeros({1, int64_t(1) << 21, 1, int64_t(1) << 20});
  CHECK_THAT(error_of([&] { kiln::matmul(a, b); }), Contains("[matmul]"));
}

TEST_CASE("arange counts are checked before they become a size", "[robust]") {
  using Catch::Contains;
  CHECK_THAT(error_of([] { kiln::arange(0, 2.9e18); }), Contains("[arange]"));
  CHECK_THAT(error_of([] { kiln::arange(0, NAN); }), Contains("must be finite"));
  CHECK_THAT(error_of([] { kiln::arange(0, INFINITY); }), Contains("must be finite"));
  CHECK_THAT(error_of([] { kiln::arange(-1e308, 1e308, 1e300); }), Contains("[arange]"));
  CHECK(kiln::arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
}

TEST_CASE("allocations past 2^62 bytes or the machine's memory are errors", "[robust]") {
  using Catch::Contains;
  CHECK_THAT(error_of([] { kiln::cpu_alloc(size_t(1) << 63); }), Contains("[alloc]"));
  CHECK_THAT(error_of([] { kiln::cpu_alloc(size_t(1) << 58); }), Contains("[alloc]"));
  size_t in_use = kiln::allocator_stats().bytes_in_use;
  // A valid lazy tensor (2^50 bytes) that no machine here can hold: realizing it fails cleanly.
  Tensor huge = kiln::zeros({int64_t(1) << 50}, DType::U8) + 1;
  CHECK_THAT(error_of([&] { huge.realize(); }), Contains("[alloc]"));
  CHECK_THAT(error_of([&] { (void)huge.str(); }), Contains("[alloc]"));
  CHECK(kiln::allocator_stats().bytes_in_use == in_use);
}

TEST_CASE("slices with extreme steps count their elements without overflow", "[robust]") {
  Tensor x = kiln::arange(0, 10);
  // Before: distance + step - 1 overflowed, and -INT64_MIN is undefined.
  CHECK(x.slice(0, {}, {}, kMax).to_vector<float>() == std::vector<float>{0});
  CHECK(x.slice(0, {}, {}, std::numeric_limits<int64_t>::min()).to_vector<float>() ==
        std::vector<float>{9});
  CHECK(x.slice(0, 2, 9, 3).to_vector<float>() == std::vector<float>{2, 5, 8});
  CHECK(x.slice(0, 8, 1, -3).to_vector<float>() == std::vector<float>{8, 5, 2});
}

TEST_CASE("printing reads integers exactly and throws only kiln::Error", "[robust]") {
  Tensor t = kiln::tensor<int64_t>({kMax, std::numeric_limits<int64_t>::min(), 7});
  std::string s = t.str();
  CHECK(s.find("9223372036854775807") != std::string::npos);
  CHECK(s.find("-9223372036854775808") != std::string::npos);
  CHECK(kiln::tensor<float>({1.5f, 2}).str() == "tensor([1.5000, 2.0000], shape=[2], dtype=f32)");
}

TEST_CASE("file headers with huge or malformed numbers give kiln::Error", "[robust]") {
  using Catch::Contains;
  TempDir dir;
  auto npy = [&](const std::string& shape) {
    std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
    std::string file = std::string("\x93NUMPY\x01\x00", 8);
    file += static_cast<char>(dict.size() & 0xFF);
    file += static_cast<char>(dict.size() >> 8);
    std::string path = (dir.path / "t.npy").string();
    std::ofstream(path, std::ios::binary) << file << dict;
    return path;
  };
  CHECK_THAT(error_of([&] { kiln::io::load_npy(npy("123456789012345678901234,")); }),
             Contains("[load_npy]") && Contains("too large"));
  CHECK_THAT(error_of([&] { kiln::io::load_npy(npy("4611686018427387904, 4")); }),
             Contains("too large"));
  auto safetensors = [&](const std::string& shape) {
    std::string header = R"({"x":{"dtype":"F32","shape":[)" + shape + R"(],"data_offsets":[0,4]}})";
    std::string file(8, '\0');
    file[0] = static_cast<char>(header.size());
    std::string path = (dir.path / "t.safetensors").string();
    std::ofstream(path, std::ios::binary) << file << header << std::string(4, '\0');
    return path;
  };
  CHECK_THAT(error_of([&] { kiln::io::load_safetensors(safetensors("123456789012345678901234")); }),
             Contains("[load_safetensors]"));
  CHECK_THAT(error_of([&] { kiln::io::load_safetensors(safetensors("4611686018427387904,4")); }),
             Contains("too large"));
  // Optimizer state names end in a parameter index.
  Tensor p = kiln::tensor<float>({0, 0});
  p.requires_grad_();
  kiln::optim::Adam opt({p}, {});
  for (std::string name : {"exp_avg.x", "exp_avg.99999999999999999999999", "exp_avg."})
    CHECK_THAT(error_of([&] {
                 opt.load_state({{name, kiln::zeros({2})}});
               }),
               Contains("does not match"));
}

TEST_CASE("kernel IR with out-of-range numbers gives kiln::Error", "[robust]") {
  using Catch::Contains;
  std::string text = kt::slurp(std::string(KILN_IR_TEST_DIR) + "/kernel_ir.txt");
  CHECK_NOTHROW(kiln::parse_kernels(text));
  std::string stage = std::regex_replace(text, std::regex("rindex 0\\.0"), "rindex 9999999999.0");
  CHECK_THAT(error_of([&] { kiln::parse_kernels(stage); }), Contains("out of range"));
  std::string count =
      std::regex_replace(text, std::regex("f32\\[6\\]"), "f32[4611686018427387904]");
  CHECK_THAT(error_of([&] { kiln::parse_kernels(count); }), Contains("too large"));
}

TEST_CASE("kiln-opt does not touch the memory of buffers it never reads", "[robust]") {
  // 8 GiB declared in a few bytes: zero-filling it used to take seconds and all that memory.
  std::string text = "%0 = buffer : f32[2147483648]\n"
                     "%1 = exp %0 : f32[2147483648]\n"
                     "return %1\n";
  long rss = max_rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  kiln::opt::Request r;
  r.emit = "kernels";
  std::string out = kiln::opt::run(text, r).out;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(out.find("f32[2147483648]") != std::string::npos);
  CHECK(max_rss_kib() - rss < 1024 * 1024); // less than 1 GiB more at the high-water mark
  INFO(seconds << " s");
  CHECK(seconds < 1.0);
}

TEST_CASE("a FIFO in the disk cache folder is a miss, not a wait", "[robust]") {
  TempDir dir;
  kiln::DiskCacheOptions saved = kiln::disk_cache_options();
  kiln::disk_cache_options() = {
      .enabled = true, .dir = dir.path.string(), .max_bytes = uint64_t(1) << 30, .explain = false};
  std::string path = kiln::disk_cache::entry_path("fifo key");
  REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
  auto lookup = std::async(std::launch::async,
                           [] { return kiln::disk_cache::load("fifo key", "test").status; });
  bool answered = lookup.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!answered) { // release the reader blocked in open(), so the test can end
    int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  kiln::disk_cache::Status status = lookup.get();
  kiln::disk_cache_options() = saved;
  REQUIRE(answered);
  CHECK(status != kiln::disk_cache::Status::Hit);
}

TEST_CASE("a forked child runs parallel kernels with workers of its own", "[robust]") {
  int saved = kiln::num_threads();
  kiln::set_num_threads(4);
  // Elementwise kernels over 2^20 elements and more are split across threads: the parent's
  // pool exists before the fork.
  Tensor x = kiln::arange(0, 1 << 20, 1, DType::F64);
  double n = 1 << 20;
  REQUIRE((x * 2).realize().sum().item<double>() == n * (n - 1));
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) { // no Catch2 in here: an exit status only
    int status = 1;
    try {
      bool same = (x * 2).realize().sum().item<double>() == n * (n - 1);
      Tensor y = (kiln::arange(0, 1 << 21, 1, DType::F64) * 3 + 1).realize(); // compiled here
      bool fresh = y.sum().item<double>() == 3 * n * (2 * n - 1) + 2 * n;
      status = same && fresh ? 0 : 1;
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  kiln::set_num_threads(saved);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 200 && done == 0; ++i) {
    done = ::waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("the forked child did not finish within 20 s");
  }
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
