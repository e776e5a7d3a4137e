#include "codegen/host/thread_pool.h"

#include "ir/error.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace kiln {
namespace {

int default_threads() {
  if (const char* s = std::getenv("KILN_NUM_THREADS")) {
    int n = 0;
    const char* end = s + std::strlen(s);
    auto [p, ec] = std::from_chars(s, end, n); // atoi's overflow is undefined
    if (ec == std::errc() && p == end && n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
public:
  explicit ThreadPool(int workers) {
    try {
      for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { loop(i); });
    } catch (const std::system_error& e) { // the system's thread limit, or out of memory
      stop();
      fail("parallel_for", "cannot start {} worker threads: {} (fewer: kiln::set_num_threads)",
           workers, e.what());
    }
  }
  ~ThreadPool() { stop(); }
  int workers() const { return static_cast<int>(threads_.size()); }

  // Runs task(i) for i in [0, count) on workers 0..count-1 while the caller runs own(), then waits.
  void run(int count, const std::function<void(int)>& task, const std::function<void()>& own) {
    std::unique_lock<std::mutex> lock(mu_);
    task_ = &task;
    count_ = count;
    pending_ = count;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    own();
    lock.lock();
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
  }

private:
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void loop(int id) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (id >= count_) continue;
      const auto* task = task_;
      lock.unlock();
      (*task)(id);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* task_ = nullptr;
  int count_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

int g_threads = default_threads();
std::mutex g_pool_mu;
ThreadPool* g_pool = nullptr; // leaked: workers must outlive static destructors of users

// fork() copies only the calling thread: a child would wait forever for the parent's workers.
// As OpenMP runtimes do, fork waits for a parallel region in progress to end (so g_pool_mu is
// free in the child), and the child forgets the pool and starts workers of its own when it
// first needs them. The old pool is leaked, not destroyed: its threads do not exist there.
// Other kiln locks (realize, kernel cache, allocator) are held only inside a call, by the
// calling thread: a child forked while another thread is inside such a call may still block,
// as with any library (POSIX allows only async-signal-safe calls in that child).
void before_fork() { g_pool_mu.lock(); }
void after_fork_in_parent() { g_pool_mu.unlock(); }
void after_fork_in_child() {
  g_pool = nullptr;
  g_pool_mu.unlock();
}

ThreadPool& pool_for(int threads) {
  [[maybe_unused]] static const int registered =
      ::pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  if (!g_pool || g_pool->workers() != threads - 1) {
    delete std::exchange(g_pool, nullptr);
    g_pool = new ThreadPool(threads - 1);
  }
  return *g_pool;
}

} // namespace

int num_threads() { return g_threads; }
void set_num_threads(int n) { g_threads = std::max(1, n); }

void parallel_for(int64_t n, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t most = std::max<int64_t>(1, n / std::max<int64_t>(min_chunk, 1));
  int threads = static_cast<int>(std::min<int64_t>(g_threads, most));
  if (threads <= 1) return fn(0, n);
  // Several pieces per thread, taken in turn: on a shared machine one core can run much slower
  // for a while, and a static split would make every kernel wait for it.
  int64_t pieces = std::min<int64_t>(most, int64_t{threads} * 8);
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < pieces;)
      fn(n * c / pieces, n * (c + 1) / pieces);
  };
  std::lock_guard<std::mutex> lock(g_pool_mu); // one parallel region at a time
  std::function<void(int)> task = [&](int) { work(); };
  pool_for(g_threads).run(threads - 1, task, work);
}

} // namespace kiln
