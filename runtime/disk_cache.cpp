// Disk kernel cache: entry encoding and checks, atomic writes, LRU eviction, environment knobs.
#include "runtime/disk_cache.h"

#include "runtime/stats.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <link.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace kiln {
namespace {

// Entry layout, little-endian: magic, u32 format, u32 key size, u64 payload size, u64 payload
// hash, u64 header hash (of the 32 bytes before it and the key), key, payload.
constexpr std::string_view kMagic = "KILNKERN";
constexpr size_t kHeaderSize = 40;
constexpr uint64_t kMaxEntryBytes = uint64_t(1) << 30; // larger files are not ours
constexpr std::string_view kEntrySuffix = ".kobj";
constexpr time_t kStaleTempSeconds = 3600;       // a temp file this old lost its writer
constexpr std::string_view kUsageName = "usage"; // the folder's estimated bytes (after_write)

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_le(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

// Empty when `bytes` is a whole, undamaged entry (its key and payload returned), else what is
// wrong with it.
std::string decode(std::string_view bytes, std::string_view* key, std::string_view* payload) {
  if (bytes.size() >= kMagic.size() && bytes.substr(0, kMagic.size()) != kMagic)
    return "not a kiln cache entry (bad magic)";
  if (bytes.size() < kHeaderSize)
    return fmt::format("truncated header ({} of {} bytes)", bytes.size(), kHeaderSize);
  if (uint32_t v = get_le(bytes, 8, 4); v != kDiskCacheFormat)
    return fmt::format("format version {} (this kiln reads {})", v, kDiskCacheFormat);
  uint64_t key_size = get_le(bytes, 12, 4), payload_size = get_le(bytes, 16, 8);
  if (payload_size > kMaxEntryBytes) return "damaged header (payload size)";
  if (kHeaderSize + key_size > bytes.size())
    return fmt::format("truncated key ({} bytes, header says more)", bytes.size());
  *key = bytes.substr(kHeaderSize, key_size);
  if (fnv1a(*key, fnv1a(bytes.substr(0, 32))) != get_le(bytes, 32, 8))
    return "damaged header or key (checksum mismatch)";
  uint64_t want = kHeaderSize + key_size + payload_size;
  if (bytes.size() < want) return fmt::format("truncated ({} of {} bytes)", bytes.size(), want);
  if (bytes.size() > want) return fmt::format("{} bytes past its end", bytes.size() - want);
  *payload = bytes.substr(kHeaderSize + key_size);
  if (fnv1a(*payload) != get_le(bytes, 24, 8)) return "damaged payload (checksum mismatch)";
  return "";
}

std::string clip(std::string_view s) {
  return s.size() <= 60 ? std::string(s) : std::string(s.substr(0, 57)) + "...";
}

// Where two keys differ, for KILN_EXPLAIN_CACHE (the target line, the kernel text, ...).
std::string first_difference(std::string_view have, std::string_view want) {
  for (int line = 1;; ++line) {
    size_t a = have.find('\n'), b = want.find('\n');
    std::string_view la = have.substr(0, a), lb = want.substr(0, b);
    if (la != lb)
      return fmt::format("line {}: entry has '{}', wanted '{}'", line, clip(la), clip(lb));
    if (a == std::string_view::npos || b == std::string_view::npos)
      return fmt::format("line {}: one key ends there", line);
    have.remove_prefix(a + 1);
    want.remove_prefix(b + 1);
  }
}

void explain(std::string_view label, std::string_view what) {
  if (disk_cache_options().explain) fmt::print(stderr, "kiln cache: {}: {}\n", label, what);
}

// Both warnings come once per process: a bad folder would otherwise flood stderr.
void warn_bad_entry(const std::string& path, std::string_view label, std::string_view why) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  fmt::print(
      stderr,
      "kiln: warning: disk cache entry {} ({}) was bad: {}; removed it and recompiled (later "
      "bad entries are not reported; KILN_EXPLAIN_CACHE=1 lists every miss)\n",
      path, label, why);
}

void warn_io(std::string_view what) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true))
    fmt::print(stderr,
               "kiln: warning: disk cache: {} (kernels still compile; later I/O errors are "
               "not reported)\n",
               what);
}

enum class Read { Ok, Missing, Error };

Read read_file(const std::string& path, std::string& out, struct stat& st, std::string& err) {
  // O_NONBLOCK: opening a FIFO (or a device) put in the folder must not wait for a writer; the
  // type check below then turns it into a miss. Reads of regular files ignore the flag.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return Read::Missing;
    err = std::strerror(errno);
    return Read::Error;
  }
  Read r = Read::Ok;
  if (::fstat(fd, &st) != 0)
    err = std::strerror(errno), r = Read::Error;
  else if (!S_ISREG(st.st_mode))
    err = "not a regular file", r = Read::Error;
  else {
    // A bigger file is damaged or foreign: reading its head is enough to say so.
    out.resize(std::min<uint64_t>(st.st_size, kMaxEntryBytes));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        err = std::strerror(errno), r = Read::Error;
        break;
      }
      if (n == 0) break; // shrank while we read: decode() says truncated
      got += n;
    }
    out.resize(got);
  }
  ::close(fd);
  return r;
}

std::string write_file(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("create {}: {}", path, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = fmt::format("write {}: {}", path, std::strerror(errno));
      ::close(fd);
      return err;
    }
    done += n;
  }
  // No fsync: an entry torn by a crash fails its checksums and is recompiled, which costs less
  // than syncing every kernel.
  if (::close(fd) != 0) return fmt::format("close {}: {}", path, std::strerror(errno));
  return "";
}

// A bad entry goes, unless another process has renamed a fresh one into its place meanwhile.
void discard(const std::string& path, const struct stat* seen, std::string_view label,
             std::string_view why) {
  struct stat now;
  if (!seen ||
      (::stat(path.c_str(), &now) == 0 && now.st_ino == seen->st_ino && now.st_dev == seen->st_dev))
    ::unlink(path.c_str());
  ++mutable_stats().disk_cache_bad_entries;
  warn_bad_entry(path, label, why);
  explain(label, fmt::format("miss, {}; removed", why));
}

bool is_hex16(std::string_view s) {
  return s.size() >= 16 && std::all_of(s.begin(), s.begin() + 16, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "<16 hex>.kobj" is an entry; "<16 hex>.kobj.<pid>.<n>.tmp" a write in progress.
bool is_entry_name(std::string_view n) {
  return n.size() == 16 + kEntrySuffix.size() && is_hex16(n) && n.substr(16) == kEntrySuffix;
}
bool is_temp_name(std::string_view n) {
  return is_hex16(n) && n.substr(16).starts_with(kEntrySuffix) && n.ends_with(".tmp");
}

// When the folder holds more than max_bytes, removes the least recently used entries (oldest
// mtime) until it holds at most 3/4 of that, sparing `keep`: the room left lets many writes go
// by before the next scan. Also removes temp files whose writer died. Returns the bytes left.
uint64_t evict(const std::string& dir, uint64_t max_bytes, const std::string& keep) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  struct File {
    std::string name;
    uint64_t size;
    timespec mtime;
  };
  std::vector<File> files;
  uint64_t total = 0;
  time_t now = std::time(nullptr);
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    bool entry = is_entry_name(name);
    if (!entry && !is_temp_name(name)) continue;
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (entry) {
      files.push_back({std::string(name), uint64_t(st.st_size), st.st_mtim});
      total += st.st_size;
    } else if (st.st_mtime < now - kStaleTempSeconds) {
      ::unlinkat(::dirfd(d), e->d_name, 0);
    }
  }
  if (total > max_bytes) {
    std::sort(files.begin(), files.end(), [](const File& a, const File& b) {
      return a.mtime.tv_sec != b.mtime.tv_sec ? a.mtime.tv_sec < b.mtime.tv_sec
                                              : a.mtime.tv_nsec < b.mtime.tv_nsec;
    });
    int64_t removed = 0;
    uint64_t freed = 0, low_water = max_bytes - max_bytes / 4;
    for (const File& f : files) {
      if (total <= low_water) break;
      if (f.name == keep) continue;
      bool gone = ::unlinkat(::dirfd(d), f.name.c_str(), 0) == 0;
      if (gone) ++removed, freed += f.size;
      if (gone || errno == ENOENT) total -= f.size; // ENOENT: another process evicted it
    }
    mutable_stats().disk_cache_evictions += removed;
    if (removed)
      explain("eviction", fmt::format("removed {} least recently used entries ({} bytes): the "
                                      "folder passed its bound of {} bytes",
                                      removed, freed, max_bytes));
  }
  ::closedir(d);
  return total;
}

// Evicts when the folder may be over its bound. A scan costs an fstatat per entry, ~1 s for
// the ~200,000 entries a full 1 GiB cache holds, so the folder's size is kept in <dir>/usage: the
// total of the last scan plus every write since, by any process, updated under flock(). It
// errs high (an entry written twice, entries removed by hand), which only brings a scan
// earlier. A missing or unreadable usage file means a scan.
void after_write(const std::string& dir, uint64_t max_bytes, uint64_t written,
                 const std::string& keep) {
  std::string path = fmt::format("{}/{}", dir, kUsageName);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return warn_io(fmt::format("open {}: {}", path, std::strerror(errno)));
  ::flock(fd, LOCK_EX); // released by close()
  char text[32] = {};
  ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  char* end = nullptr;
  uint64_t usage = n > 0 ? std::strtoull(text, &end, 10) : 0;
  bool known = n > 0 && end && *end == '\n';
  uint64_t estimate = known ? usage + written : max_bytes + 1;
  if (estimate > max_bytes) estimate = evict(dir, max_bytes, keep);
  std::string line = fmt::format("{}\n", estimate);
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()))
    warn_io(fmt::format("write {}: {}", path, std::strerror(errno)));
  ::close(fd);
}

DiskCacheOptions from_env() {
  DiskCacheOptions o;
  if (const char* s = std::getenv("KILN_CACHE"))
    o.enabled = !(std::string_view(s) == "0" || std::string_view(s) == "off" ||
                  std::string_view(s) == "false");
  if (const char* s = std::getenv("KILN_CACHE_DIR"); s && *s)
    o.dir = s;
  else if (const char* h = std::getenv("HOME"); h && *h)
    o.dir = std::string(h) + "/.cache/kiln";
  if (const char* s = std::getenv("KILN_CACHE_MAX_MB"); s && *s) {
    char* end = nullptr;
    double mb = std::strtod(s, &end);
    if (*end == '\0' && mb >= 0 && mb < 1e12)
      o.max_bytes = static_cast<uint64_t>(mb * 1048576);
    else
      fmt::print(stderr, "kiln: warning: ignoring KILN_CACHE_MAX_MB={} (not a size in MB)\n", s);
  }
  if (const char* s = std::getenv("KILN_EXPLAIN_CACHE"))
    o.explain = *s && std::string_view(s) != "0";
  return o;
}

struct BuildId {
  uintptr_t address; // of a function in the library we look for
  std::string id, file;
};

// dl_iterate_phdr callback: the NT_GNU_BUILD_ID note of the object that holds `address`.
int find_build_id(dl_phdr_info* info, size_t, void* data) {
  auto* found = static_cast<BuildId*>(data);
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && found->address >= lo && found->address < lo + ph.p_memsz)
      mine = true;
  }
  if (!mine) return 0;
  found->file = info->dlpi_name;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    size_t align = ph.p_align == 8 ? 8 : 4;
    auto up = [&](size_t n) { return (n + align - 1) & ~(align - 1); };
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) nh;
      std::memcpy(&nh, p, sizeof nh);
      const char* name = p + sizeof nh;
      const char* desc = name + up(nh.n_namesz);
      const char* next = desc + up(nh.n_descsz);
      if (next > end) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        for (uint32_t j = 0; j < nh.n_descsz; ++j)
          found->id += fmt::format("{:02x}", static_cast<unsigned char>(desc[j]));
        return 1;
      }
      p = next;
    }
  }
  return 1;
}

} // namespace

DiskCacheOptions& disk_cache_options() {
  static DiskCacheOptions o = from_env();
  return o;
}

uint64_t stable_hash(std::string_view bytes) { return fnv1a(bytes); }

const std::string& kiln_build_id() {
  static const std::string id = [] {
    BuildId found{reinterpret_cast<uintptr_t>(&stable_hash), "", ""};
    dl_iterate_phdr(find_build_id, &found);
    if (!found.id.empty()) return found.id;
    // Linked without --build-id: the library file's size and mtime will do.
    std::string file = found.file.empty() ? "/proc/self/exe" : found.file;
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) return std::string("unknown");
    return fmt::format("{} {} {}.{}", file, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  }();
  return id;
}

namespace disk_cache {

bool enabled() {
  const DiskCacheOptions& o = disk_cache_options();
  return o.enabled && !o.dir.empty();
}

std::string entry_path(const std::string& key) {
  return fmt::format("{}/{:016x}{}", disk_cache_options().dir, stable_hash(key), kEntrySuffix);
}

std::string encode(const std::string& key, std::string_view payload) {
  std::string out(kMagic);
  put_le(out, kDiskCacheFormat, 4);
  put_le(out, key.size(), 4);
  put_le(out, payload.size(), 8);
  put_le(out, fnv1a(payload), 8);
  put_le(out, fnv1a(key, fnv1a(out)), 8);
  out += key;
  out += payload;
  return out;
}

Lookup load(const std::string& key, std::string_view label) {
  Lookup r;
  if (!enabled()) {
    r.status = Status::Disabled;
    return r;
  }
  std::string path = entry_path(key), bytes, err;
  struct stat st;
  switch (read_file(path, bytes, st, err)) {
  case Read::Missing:
    r.why = "not present (a new kernel, evicted, or cached only for another target, LLVM or kiln "
            "build)";
    explain(label, "miss, " + r.why);
    return r;
  case Read::Error:
    r.why = fmt::format("cannot read {}: {}", path, err);
    explain(label, "miss, " + r.why);
    return r;
  case Read::Ok:
    break;
  }
  std::string_view stored_key, payload;
  if (std::string bad = decode(bytes, &stored_key, &payload); !bad.empty()) {
    r.status = Status::Corrupt;
    r.why = "corrupt or foreign entry: " + bad;
  } else if (stored_key != key) {
    r.status = Status::KeyMismatch;
    r.why = "key mismatch, the entry is for another key with the same hash (" +
            first_difference(stored_key, key) + ")";
  } else {
    r.status = Status::Hit;
    r.payload.assign(payload);
    ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); // a use: last to be evicted
    return r;
  }
  discard(path, &st, label, r.why);
  return r;
}

void store(const std::string& key, std::string_view payload, std::string_view label) {
  if (!enabled()) return;
  const DiskCacheOptions& o = disk_cache_options();
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return warn_io(fmt::format("cannot create {}: {}", o.dir, ec.message()));
  // Same folder as the entry, so rename() is atomic; pid and counter keep writers apart.
  static std::atomic<uint64_t> counter{0};
  std::string path = entry_path(key);
  std::string tmp = fmt::format("{}.{}.{}.tmp", path, ::getpid(), counter++);
  std::string bytes = encode(key, payload);
  if (std::string err = write_file(tmp, bytes); !err.empty()) {
    ::unlink(tmp.c_str());
    return warn_io(err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = fmt::format("rename {} to {}: {}", tmp, path, std::strerror(errno));
    ::unlink(tmp.c_str());
    return warn_io(err);
  }
  ++mutable_stats().disk_cache_writes;
  explain(label, "written to " + path);
  after_write(o.dir, o.max_bytes, bytes.size(), path.substr(path.rfind('/') + 1));
}

void reject(const std::string& key, std::string_view label, std::string_view why) {
  discard(entry_path(key), nullptr, label, fmt::format("unusable entry: {}", why));
}

} // namespace disk_cache
} // namespace kiln
