// Disk kernel cache: entry format and damage detection, LRU eviction, and whole processes (this
// test binary re-run as a child) sharing one cache folder, one after another and at once.
#include "test_util.h"

#include <catch2/catch.hpp>
#include <kiln/kiln.h>

#include "runtime/disk_cache.h"
#include "runtime/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
namespace dc = kiln::disk_cache;

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "kiln_disk_cache_XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Points this process's disk cache at a fresh folder for one test, then restores the options.
struct ScopedCache {
  TempDir dir;
  kiln::DiskCacheOptions saved = kiln::disk_cache_options();
  explicit ScopedCache(uint64_t max_bytes = uint64_t(1) << 30) {
    kiln::disk_cache_options() = {.enabled = true, .dir = dir.path, .max_bytes = max_bytes};
  }
  ~ScopedCache() { kiln::disk_cache_options() = saved; }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << bytes;
}

std::vector<std::string> files_in(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t bytes_in(const std::vector<std::string>& files) {
  uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

void set_mtime(const std::string& path, time_t t) {
  timespec ts[2] = {{t, 0}, {t, 0}};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0);
}

std::string payload_of(int i, size_t size) {
  std::string p(size, '\0');
  for (size_t j = 0; j < size; ++j) p[j] = static_cast<char>((i * 131 + j * 7) & 0xff);
  return p;
}

// ---- child processes: this binary run with a hidden test's tag ----

struct ChildResult {
  int rc = -1;
  std::map<std::string, int64_t> stats; // what the child wrote to KILN_TEST_CHILD_OUT
  std::string err;                      // its stderr
};

class Child {
public:
  Child(const std::string& tag, const std::string& work, const std::string& name,
        std::map<std::string, std::string> env)
      : out_(work + "/" + name + ".stats"), err_(work + "/" + name + ".err") {
    env["KILN_TEST_CHILD_OUT"] = out_;
    if (!env.count("KILN_NUM_THREADS")) env["KILN_NUM_THREADS"] = "1";
    // The child sees only the cache knobs the test gives it.
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
      std::string v = *e, k = v.substr(0, v.find('='));
      if (!env.count(k) && !k.starts_with("KILN_CACHE") && k != "KILN_EXPLAIN_CACHE")
        vars.push_back(v);
    }
    for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars) envp.push_back(v.data());
    envp.push_back(nullptr);
    // Catch's report goes to a file too: the child's stdout would interleave with ours.
    std::string exe = fs::read_symlink("/proc/self/exe").string(), out_flag = "--out",
                report = work + "/" + name + ".report";
    std::vector<char*> argv{exe.data(), const_cast<char*>(tag.c_str()), out_flag.data(),
                            report.data(), nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(posix_spawn(&pid_, exe.c_str(), &fa, nullptr, argv.data(), envp.data()) == 0);
    posix_spawn_file_actions_destroy(&fa);
  }

  // A failed check must not leave a child writing into a folder being removed.
  ~Child() {
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }

  ChildResult wait() {
    ChildResult r;
    int status = 0;
    pid_t pid = std::exchange(pid_, -1);
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::istringstream in(read_all(out_));
    std::string k;
    int64_t v;
    while (in >> k >> v) r.stats[k] = v;
    r.err = read_all(err_);
    INFO("child stderr:\n" << r.err);
    CHECK(r.rc == 0);
    CHECK(!r.stats.empty());
    return r;
  }

private:
  pid_t pid_ = -1;
  std::string out_, err_;
};

ChildResult run_child(const std::string& tag, const std::string& work, const std::string& name,
                      std::map<std::string, std::string> env) {
  return Child(tag, work, name, std::move(env)).wait();
}

void write_child_stats(const std::map<std::string, int64_t>& extra = {}) {
  const char* out = std::getenv("KILN_TEST_CHILD_OUT");
  REQUIRE(out);
  kiln::Stats s = kiln::stats();
  std::ofstream f(out);
  f << "compiled " << s.kernels_compiled << "\nhits " << s.disk_cache_hits << "\nmisses "
    << s.disk_cache_misses << "\nwrites " << s.disk_cache_writes << "\nevictions "
    << s.disk_cache_evictions << "\nbad " << s.disk_cache_bad_entries << "\n";
  for (const auto& [k, v] : extra) f << k << " " << v << "\n";
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* s = std::getenv(name);
  return s ? std::atoll(s) : fallback;
}

// Several kernels (matmul, reductions, elementwise, calls to libm and kiln_ipow, which a loaded
// object must resolve too); `n` changes the shapes, so the kernels.
std::vector<kiln::Tensor> program(int64_t n) {
  kiln::manual_seed(7);
  auto x = kiln::randn({n, 16});
  auto w = kiln::randn({16, 8});
  auto h = (kiln::matmul(x, w) + 1).relu();
  auto e = (h - h.max({1}, true)).exp();
  auto y = e / e.sum({1}, true) + x.sum({1}, true).erf() * 0.5;
  auto d = kiln::randn({n, 4}, kiln::DType::F64).tanh().log1p();
  auto i = kiln::pow(kiln::randint(-5, 5, {n, 3}), kiln::randint(0, 4, {n, 3}));
  return {y, d, i};
}

int64_t count_wrong(const kiln::Tensor& got, const kiln::Tensor& ref) {
  std::vector<double> g = got.to_vector<double>(), r = ref.to_vector<double>();
  if (g.size() != r.size()) return 1;
  int64_t wrong = 0;
  for (size_t i = 0; i < g.size(); ++i)
    wrong += !(std::fabs(g[i] - r[i]) <= 1e-5 + 1e-4 * std::fabs(r[i]));
  return wrong;
}

std::map<std::string, std::string> cache_env(const std::string& dir) {
  return {{"KILN_CACHE_DIR", dir}};
}

int count_of(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

} // namespace

// ---- the child processes' side ----

TEST_CASE("disk cache child: run programs", "[.disk_cache_child]") {
  int64_t n = env_int("KILN_TEST_N", 5), programs = env_int("KILN_TEST_PROGRAMS", 1), wrong = 0;
  for (int64_t i = 0; i < programs; ++i)
    for (const kiln::Tensor& y : program(n + i)) wrong += count_wrong(y, kiln::reference(y));
  CHECK(wrong == 0);
  write_child_stats({{"wrong", wrong}});
}

TEST_CASE("disk cache child: write entries", "[.disk_cache_child_writer]") {
  int64_t wrong = 0, hits = 0;
  for (int round = 0; round < 8; ++round)
    for (int i = 0; i < 16; ++i) {
      std::string key = "key " + std::to_string(i), payload = payload_of(i, 48 << 10);
      dc::store(key, payload, "test");
      dc::Lookup r = dc::load(key, "test");
      if (r.status == dc::Status::Hit) ++hits, wrong += r.payload != payload;
      // Another writer may have evicted it, but nobody may leave a damaged entry.
      else
        wrong += r.status != dc::Status::NotPresent;
    }
  write_child_stats({{"wrong", wrong}, {"loaded", hits}});
}

// ---- in-process tests of the entry format and eviction ----

TEST_CASE("stable_hash is 64-bit FNV-1a", "[disk_cache]") {
  CHECK(kiln::stable_hash("") == 0xcbf29ce484222325ull);
  CHECK(kiln::stable_hash("a") == 0xaf63dc4c8601ec8cull);
  CHECK(kiln::stable_hash("foobar") == 0x85944171f73967e8ull);
}

TEST_CASE("disk cache entries round-trip through an atomically renamed file", "[disk_cache]") {
  ScopedCache cache;
  std::string key = "backend cpu\nkernel k(a0: f32[4] out)", payload = payload_of(1, 3000);
  CHECK(dc::load(key, "k").status == dc::Status::NotPresent);
  auto before = kiln::stats();
  dc::store(key, payload, "k");
  CHECK(kiln::stats().disk_cache_writes == before.disk_cache_writes + 1);
  std::string path = dc::entry_path(key);
  CHECK(path == fmt::format("{}/{:016x}.kobj", cache.dir.path, kiln::stable_hash(key)));
  std::string bytes = read_all(path);
  CHECK(bytes.substr(0, 8) == "KILNKERN");
  CHECK(bytes == dc::encode(key, payload));
  CHECK(files_in(cache.dir.path, ".tmp").empty());
  dc::Lookup r = dc::load(key, "k");
  CHECK(r.status == dc::Status::Hit);
  CHECK(r.payload == payload);
  dc::store(key, payload_of(2, 10), "k"); // rewriting replaces the entry
  CHECK(dc::load(key, "k").payload == payload_of(2, 10));
  CHECK(files_in(cache.dir.path, ".kobj").size() == 1);
}

TEST_CASE("damaged and foreign disk cache entries are detected and removed", "[disk_cache]") {
  ScopedCache cache;
  std::string key = "backend cpu\nkernel k_damage(a0: f32[8] out)", payload = payload_of(3, 2000);
  std::string good = dc::encode(key, payload);
  auto flip = [&](size_t at) {
    std::string b = good;
    b[at] ^= 0x20;
    return b;
  };
  std::string other_version = good;
  other_version[8] = 2; // format field; the header checksum catches it too
  std::vector<std::pair<std::string, std::string>> damaged = {
      {"empty", ""},
      {"garbage", "this is not a cache entry at all, just some text"},
      {"truncated in the header", good.substr(0, 20)},
      {"truncated in the key", good.substr(0, 60)},
      {"truncated in the payload", good.substr(0, good.size() - 1)},
      {"trailing bytes", good + "xyz"},
      {"bad magic", flip(0)},
      {"other format version", other_version},
      {"flipped size byte", flip(17)},
      {"flipped key byte", flip(45)},
      {"flipped payload byte", flip(good.size() - 100)},
  };
  for (const auto& [what, bytes] : damaged) {
    INFO(what);
    write_all(dc::entry_path(key), bytes);
    auto before = kiln::stats();
    dc::Lookup r = dc::load(key, "k_damage");
    CHECK(r.status == dc::Status::Corrupt);
    CHECK(!fs::exists(dc::entry_path(key)));
    CHECK(kiln::stats().disk_cache_bad_entries == before.disk_cache_bad_entries + 1);
    dc::store(key, payload, "k_damage");
    CHECK(dc::load(key, "k_damage").status == dc::Status::Hit);
  }
}

TEST_CASE("a whole entry for another key at our file name is a key mismatch", "[disk_cache]") {
  ScopedCache cache;
  std::string key = "backend cpu\ntarget znver3 +avx2\nkernel k",
              other = "backend cpu\ntarget skx +avx512f\nkernel k";
  write_all(dc::entry_path(key), dc::encode(other, "object"));
  dc::Lookup r = dc::load(key, "k");
  CHECK(r.status == dc::Status::KeyMismatch);
  CHECK_THAT(r.why, Catch::Contains("line 2"));
  CHECK(!fs::exists(dc::entry_path(key)));
}

TEST_CASE("a disabled disk cache reads and writes nothing", "[disk_cache]") {
  ScopedCache cache;
  kiln::disk_cache_options().enabled = false;
  dc::store("key", "payload", "k");
  CHECK(dc::load("key", "k").status == dc::Status::Disabled);
  CHECK(files_in(cache.dir.path, ".kobj").empty());
}

TEST_CASE("eviction removes the least recently used entries first", "[disk_cache]") {
  std::string p = payload_of(4, 1000);
  uint64_t entry = dc::encode("key A", p).size();
  // Room for four entries; past the bound, eviction goes down to 3/4 of it (three entries).
  ScopedCache cache(entry * 4 + entry / 2);
  time_t now = std::time(nullptr);
  for (const char* k : {"key A", "key B", "key C", "key D"}) dc::store(k, p, k);
  set_mtime(dc::entry_path("key A"), now - 40);
  set_mtime(dc::entry_path("key B"), now - 30);
  set_mtime(dc::entry_path("key C"), now - 20);
  set_mtime(dc::entry_path("key D"), now - 10);
  REQUIRE(dc::load("key A", "A").status == dc::Status::Hit); // now the most recently used
  auto before = kiln::stats();
  dc::store("key E", p, "E");
  CHECK(kiln::stats().disk_cache_evictions == before.disk_cache_evictions + 2);
  CHECK(fs::exists(dc::entry_path("key A")));
  CHECK(!fs::exists(dc::entry_path("key B")));
  CHECK(!fs::exists(dc::entry_path("key C")));
  CHECK(fs::exists(dc::entry_path("key D")));
  CHECK(fs::exists(dc::entry_path("key E")));
}

TEST_CASE("writes to a disk cache under its bound do not scan the folder", "[disk_cache]") {
  std::string p = payload_of(6, 1000);
  uint64_t entry = dc::encode("key 0", p).size();
  ScopedCache cache(entry * 5 + entry / 2);
  for (int i = 0; i < 4; ++i) dc::store("key " + std::to_string(i), p, "k");
  REQUIRE(files_in(cache.dir.path, ".kobj").size() == 4);
  // Entries of other processes are counted in the shared usage file, not found by a scan: one
  // planted behind kiln's back is seen only once the estimate passes the bound.
  write_all(dc::entry_path("key planted"), dc::encode("key planted", p));
  auto before = kiln::stats();
  dc::store("key 4", p, "k"); // five counted entries: under the bound, no scan
  CHECK(kiln::stats().disk_cache_evictions == before.disk_cache_evictions);
  CHECK(files_in(cache.dir.path, ".kobj").size() == 6);
  dc::store("key 5", p, "k"); // six counted: a scan finds seven and evicts down to 3/4
  CHECK(kiln::stats().disk_cache_evictions > before.disk_cache_evictions);
  CHECK(files_in(cache.dir.path, ".kobj").size() <= 4);
}

TEST_CASE("the disk cache stays under its size bound", "[disk_cache]") {
  std::string p = payload_of(5, 2000);
  uint64_t bound = dc::encode("key 00", p).size() * 5;
  ScopedCache cache(bound);
  for (int i = 10; i < 40; ++i) dc::store("key " + std::to_string(i), p, "k");
  auto entries = files_in(cache.dir.path, ".kobj");
  CHECK(entries.size() >= 3); // eviction goes down to 3/4 of the bound, then it fills again
  CHECK(entries.size() <= 5);
  CHECK(bytes_in(entries) <= bound);
  CHECK(dc::load("key 39", "k").status == dc::Status::Hit); // the newest stay
  CHECK(dc::load("key 10", "k").status == dc::Status::NotPresent);
  // An entry bigger than the whole bound is still kept until the next write.
  dc::store("big", payload_of(6, bound * 2), "big");
  CHECK(files_in(cache.dir.path, ".kobj") == std::vector<std::string>{dc::entry_path("big")});
}

TEST_CASE("temp files of dead writers are cleaned up, live ones kept", "[disk_cache]") {
  ScopedCache cache;
  std::string stale = dc::entry_path("key") + ".999999.0.tmp",
              live = dc::entry_path("key") + ".999999.1.tmp";
  write_all(stale, "half an entry");
  write_all(live, "half an entry");
  set_mtime(stale, std::time(nullptr) - 7200);
  dc::store("other key", "payload", "k");
  CHECK(!fs::exists(stale));
  CHECK(fs::exists(live));
}

TEST_CASE("an unusable cache folder costs misses, never errors", "[disk_cache]") {
  ScopedCache cache;
  write_all(cache.dir.path + "/file", "a file where the folder should be");
  kiln::disk_cache_options().dir = cache.dir.path + "/file/sub";
  auto before = kiln::stats();
  CHECK_NOTHROW(dc::store("key", "payload", "k"));
  CHECK(dc::load("key", "k").status == dc::Status::NotPresent);
  CHECK(kiln::stats().disk_cache_writes == before.disk_cache_writes);
  // A folder where an entry should be.
  kiln::disk_cache_options().dir = cache.dir.path;
  fs::create_directory(dc::entry_path("key"));
  CHECK(dc::load("key", "k").status == dc::Status::NotPresent);
  CHECK_NOTHROW(dc::store("key", "payload", "k"));
  CHECK(fs::is_directory(dc::entry_path("key")));
}

TEST_CASE("kernel keys name the kiln build", "[disk_cache]") {
  const std::string& id = kiln::kiln_build_id();
  CHECK(!id.empty());
  CHECK(id == kiln::kiln_build_id());
}

// ---- whole processes ----

TEST_CASE("a second process loads every kernel from the disk cache", "[disk_cache]") {
  KILN_NEEDS_LLVM(); // kernels of the interpreter are not cached on disk
  TempDir cache, work;
  ChildResult first = run_child("[.disk_cache_child]", work.path, "first", cache_env(cache.path));
  CHECK(first.stats["wrong"] == 0);
  CHECK(first.stats["compiled"] > 0);
  CHECK(first.stats["hits"] == 0);
  CHECK(first.stats["writes"] == first.stats["compiled"]);
  CHECK(files_in(cache.path, ".kobj").size() == size_t(first.stats["compiled"]));
  ChildResult second = run_child("[.disk_cache_child]", work.path, "second", cache_env(cache.path));
  CHECK(second.stats["wrong"] == 0);
  CHECK(second.stats["compiled"] == 0);
  CHECK(second.stats["hits"] == first.stats["compiled"]);
  CHECK(second.stats["misses"] == 0);
  CHECK(second.stats["bad"] == 0);
  CHECK(second.err.find("warning") == std::string::npos);
}

TEST_CASE("corrupt disk cache entries warn once, recompile and give correct results",
          "[disk_cache]") {
  KILN_NEEDS_LLVM(); // kernels of the interpreter are not cached on disk
  TempDir cache, work;
  auto env = cache_env(cache.path);
  env["KILN_TEST_PROGRAMS"] = "2";
  ChildResult first = run_child("[.disk_cache_child]", work.path, "first", env);
  auto entries = files_in(cache.path, ".kobj");
  REQUIRE(entries.size() >= 5);
  std::string bytes = read_all(entries[0]);
  fs::resize_file(entries[0], bytes.size() / 2); // truncated
  bytes = read_all(entries[1]);
  bytes[bytes.size() - 10] ^= 1; // a flipped bit in the object code
  write_all(entries[1], bytes);
  write_all(entries[2], "garbage"); // not an entry
  fs::copy_file(entries[4], entries[3],
                fs::copy_options::overwrite_existing); // another key's entry
  // An intact entry whose object LLVM cannot load.
  bytes = read_all(entries[4]);
  uint32_t key_size = 0;
  for (int i = 0; i < 4; ++i)
    key_size |= uint32_t(static_cast<unsigned char>(bytes[12 + i])) << (8 * i);
  write_all(entries[4], dc::encode(bytes.substr(40, key_size), "not an ELF object"));

  ChildResult second = run_child("[.disk_cache_child]", work.path, "second", env);
  CHECK(second.stats["wrong"] == 0);
  CHECK(second.stats["compiled"] == 5);
  CHECK(second.stats["bad"] == 5);
  CHECK(second.stats["hits"] == first.stats["compiled"] - 5);
  CHECK(count_of(second.err, "kiln: warning: disk cache entry") == 1);
  ChildResult third = run_child("[.disk_cache_child]", work.path, "third", env);
  CHECK(third.stats["compiled"] == 0);
  CHECK(third.stats["bad"] == 0);
}

TEST_CASE("KILN_EXPLAIN_CACHE says why kernels missed", "[disk_cache]") {
  KILN_NEEDS_LLVM(); // kernels of the interpreter are not cached on disk
  TempDir cache, work;
  auto env = cache_env(cache.path);
  env["KILN_EXPLAIN_CACHE"] = "1";
  ChildResult first = run_child("[.disk_cache_child]", work.path, "first", env);
  CHECK(count_of(first.err, "miss, not present") == first.stats["compiled"]);
  auto entries = files_in(cache.path, ".kobj");
  REQUIRE(!entries.empty());
  write_all(entries[0], "garbage");
  ChildResult second = run_child("[.disk_cache_child]", work.path, "second", env);
  CHECK(count_of(second.err, "miss, corrupt or foreign entry") == 1);
  CHECK(count_of(second.err, "miss, not present") == 0);
}

TEST_CASE("KILN_CACHE=0 turns the disk cache off", "[disk_cache]") {
  TempDir cache, work;
  auto env = cache_env(cache.path + "/sub");
  env["KILN_CACHE"] = "0";
  ChildResult r = run_child("[.disk_cache_child]", work.path, "off", env);
  CHECK(r.stats["compiled"] > 0);
  CHECK(r.stats["hits"] + r.stats["misses"] + r.stats["writes"] == 0);
  CHECK(!fs::exists(cache.path + "/sub"));
}

TEST_CASE("KILN_CACHE_MAX_MB bounds the folder", "[disk_cache]") {
  KILN_NEEDS_LLVM(); // kernels of the interpreter are not cached on disk
  TempDir cache, work;
  auto env = cache_env(cache.path);
  env["KILN_CACHE_MAX_MB"] = "0.01"; // 10 KiB: a few kernels
  env["KILN_TEST_PROGRAMS"] = "3";
  ChildResult r = run_child("[.disk_cache_child]", work.path, "small", env);
  CHECK(r.stats["wrong"] == 0);
  CHECK(r.stats["evictions"] > 0);
  auto entries = files_in(cache.path, ".kobj");
  CHECK(entries.size() + r.stats["evictions"] == size_t(r.stats["writes"]));
  CHECK((bytes_in(entries) <= 10485 || entries.size() == 1));
}

TEST_CASE("processes filling one disk cache at once leave only valid entries", "[disk_cache]") {
  KILN_NEEDS_LLVM(); // kernels of the interpreter are not cached on disk
  TempDir cache, work;
  {
    std::vector<std::unique_ptr<Child>> kids;
    for (int i = 0; i < 3; ++i)
      kids.push_back(std::make_unique<Child>("[.disk_cache_child]", work.path,
                                             "run" + std::to_string(i), cache_env(cache.path)));
    for (auto& k : kids) CHECK(k->wait().stats["wrong"] == 0);
  }
  CHECK(files_in(cache.path, ".tmp").empty());
  ChildResult after = run_child("[.disk_cache_child]", work.path, "after", cache_env(cache.path));
  CHECK(after.stats["compiled"] == 0);
  CHECK(after.stats["bad"] == 0);

  // Many rewrites of the same entries, with and without eviction racing them.
  for (const char* max_mb : {"1024", "0.3"}) {
    INFO("KILN_CACHE_MAX_MB=" << max_mb);
    TempDir shared;
    auto env = cache_env(shared.path);
    env["KILN_CACHE_MAX_MB"] = max_mb;
    std::vector<std::unique_ptr<Child>> kids;
    for (int i = 0; i < 3; ++i)
      kids.push_back(std::make_unique<Child>("[.disk_cache_child_writer]", work.path,
                                             "writer" + std::to_string(i), env));
    for (auto& k : kids) {
      ChildResult r = k->wait();
      CHECK(r.stats["wrong"] == 0);
      CHECK(r.stats["bad"] == 0);
      CHECK(r.stats["loaded"] > 0);
    }
    CHECK(files_in(shared.path, ".tmp").empty());
    ScopedCache reader;
    kiln::disk_cache_options().dir = shared.path;
    for (int i = 0; i < 16; ++i) {
      dc::Lookup r = dc::load("key " + std::to_string(i), "check");
      CHECK((r.status == dc::Status::Hit || r.status == dc::Status::NotPresent));
      if (r.status == dc::Status::Hit) CHECK(r.payload == payload_of(i, 48 << 10));
    }
  }
}
