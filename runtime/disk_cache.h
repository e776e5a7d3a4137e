// Disk kernel cache: native code under $KILN_CACHE_DIR, so a second process compiles nothing.
//
// One file per entry, named by the hex stable_hash() of its key: a header (magic, format
// version, sizes, checksums), the full key (so a hash collision is detected, never trusted),
// then the payload. Writers write a temp file and rename() it, so readers in other processes see
// a whole entry or none. Bad entries are removed and recompiled; a hit refreshes the entry's
// mtime, and writes evict the least recently used entries past the size bound.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

// Bump when the entry layout or the meaning of a payload changes. It is part of every key, so
// entries of another format are never read (they age out through eviction).
inline constexpr uint32_t kDiskCacheFormat = 1;

struct DiskCacheOptions {
  bool enabled = true;                    // KILN_CACHE=0 turns the disk cache off
  std::string dir;                        // KILN_CACHE_DIR, else ~/.cache/kiln
  uint64_t max_bytes = uint64_t(1) << 30; // KILN_CACHE_MAX_MB (fractions allowed), default 1024
  bool explain = false; // KILN_EXPLAIN_CACHE=1: say on stderr why each lookup missed
};

// Read from the environment at first use. Change it before compiling: it is not synchronized
// with compiles running on other threads.
DiskCacheOptions& disk_cache_options();
inline void set_cache_dir(const std::string& dir) { disk_cache_options().dir = dir; }

// 64-bit FNV-1a: the same value in every process, build and platform (std::hash promises none).
uint64_t stable_hash(std::string_view bytes);

// The ELF build id of the loaded kiln library. Kernel keys include it: another kiln build may
// generate other code for the same kernel IR, and nobody remembers to bump kDiskCacheFormat.
const std::string& kiln_build_id();

namespace disk_cache {

enum class Status {
  Hit,
  Disabled,    // KILN_CACHE=0, or no folder
  NotPresent,  // a new kernel, evicted, or cached only for another target, LLVM or kiln build
  Corrupt,     // truncated, damaged, or not an entry of this format: removed
  KeyMismatch, // an intact entry for another key with the same hash: removed
};

struct Lookup {
  Status status = Status::NotPresent;
  std::string payload; // on a hit
  std::string why;     // on a miss, for KILN_EXPLAIN_CACHE
};

// Callers serialize these (runtime/kernel_cache.cpp holds its lock); other processes may use the
// same folder at any time.

bool enabled();
std::string entry_path(const std::string& key);
// Reads the entry for `key`; a hit refreshes its mtime. A corrupt or foreign entry is removed,
// reported (one warning per process) and counted. `label` names the entry in messages.
Lookup load(const std::string& key, std::string_view label);
// Writes the entry atomically; then, when the folder may hold more than max_bytes, evicts least
// recently used entries until it does not (never the entry just written). I/O failures warn
// once and are otherwise ignored: the cache only saves time.
void store(const std::string& key, std::string_view payload, std::string_view label);
// Removes an entry whose payload passed the checks but proved unusable (LLVM rejected it).
void reject(const std::string& key, std::string_view label, std::string_view why);
// The bytes of an entry file (tests forge entries with it).
std::string encode(const std::string& key, std::string_view payload);

} // namespace disk_cache
} // namespace kiln
