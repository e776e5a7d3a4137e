// Runs generated CUDA source as ordinary C++ on the host (tests/cuda_host_harness.cpp compiles
// it with this header first). Blocks run in turn; the threads of a block are fibers (ucontext)
// on one OS thread, so `__shared__` arrays are function statics. `__syncthreads` waits for every
// live thread of the block, warp shuffles go through per-lane slots between two warp barriers.
// The lowest ready thread always runs next (see run_block).
// A block whose threads wait at barriers that can never open (a divergent __syncthreads) aborts.
#pragma once
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <math.h>
#include <ucontext.h>
#include <vector>

struct kiln_dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace kiln_host {

enum class State { Ready, AtBlockBarrier, AtWarpBarrier, Done };

struct Fiber {
  ucontext_t ctx;
  kiln_dim3 idx;
  State state = State::Ready;
  unsigned char slot[16]; // this lane's value during a shuffle
};

inline ucontext_t g_scheduler;
inline std::vector<Fiber> g_fibers;
inline std::vector<std::vector<char>> g_stacks;
inline Fiber* g_current = nullptr;
inline kiln_dim3 g_block_idx, g_block_dim, g_grid_dim;
inline const std::function<void()>* g_body = nullptr;

inline void wait(State s) {
  g_current->state = s;
  swapcontext(&g_current->ctx, &g_scheduler);
}

inline void fiber_main() {
  (*g_body)();
  g_current->state = State::Done; // uc_link returns to the scheduler
}

// Opens the barriers every live thread (of the block, or of a warp) has reached.
inline void release() {
  size_t n = g_fibers.size();
  bool block_open = true;
  for (const Fiber& f : g_fibers)
    if (f.state != State::Done && f.state != State::AtBlockBarrier) block_open = false;
  for (size_t w = 0; w < n; w += 32) {
    bool warp_open = true, waiting = false;
    for (size_t l = w; l < n && l < w + 32; ++l) {
      if (g_fibers[l].state == State::AtWarpBarrier)
        waiting = true;
      else if (g_fibers[l].state != State::Done)
        warp_open = false;
    }
    for (size_t l = w; l < n && l < w + 32 && warp_open && waiting; ++l)
      if (g_fibers[l].state == State::AtWarpBarrier) g_fibers[l].state = State::Ready;
  }
  for (Fiber& f : g_fibers)
    if (block_open && f.state == State::AtBlockBarrier) f.state = State::Ready;
}

inline void run_block() {
  size_t n = g_fibers.size();
  for (size_t t = 0; t < n; ++t) {
    Fiber& f = g_fibers[t];
    f.state = State::Ready;
    f.idx = {static_cast<unsigned>(t % g_block_dim.x),
             static_cast<unsigned>(t / g_block_dim.x % g_block_dim.y),
             static_cast<unsigned>(t / (g_block_dim.x * g_block_dim.y))};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = g_stacks[t].data();
    f.ctx.uc_stack.ss_size = g_stacks[t].size();
    f.ctx.uc_link = &g_scheduler;
    makecontext(&f.ctx, fiber_main, 0);
  }
  // Always the lowest ready thread next: warp 0 runs ahead of the others as far as the barriers
  // let it, so a missing __syncthreads before shared memory is reused shows as a wrong result.
  for (;;) {
    release();
    auto next = std::find_if(g_fibers.begin(), g_fibers.end(),
                             [](const Fiber& f) { return f.state == State::Ready; });
    if (next == g_fibers.end()) break;
    g_current = &*next;
    swapcontext(&g_scheduler, &next->ctx);
  }
  for (const Fiber& f : g_fibers)
    if (f.state != State::Done) {
      std::fprintf(stderr, "kiln cuda host shim: block (%u,%u,%u) deadlocked at a barrier\n",
                   g_block_idx.x, g_block_idx.y, g_block_idx.z);
      std::abort();
    }
}

inline void launch(kiln_dim3 grid, kiln_dim3 block, const std::function<void()>& body) {
  size_t n = static_cast<size_t>(block.x) * block.y * block.z;
  g_fibers.assign(n, Fiber{});
  g_stacks.resize(n);
  for (auto& s : g_stacks) s.resize(64 * 1024);
  g_body = &body;
  g_block_dim = block;
  g_grid_dim = grid;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        g_block_idx = {x, y, z};
        run_block();
      }
}

inline unsigned linear_tid() {
  return g_current->idx.x + g_block_dim.x * (g_current->idx.y + g_block_dim.y * g_current->idx.z);
}

} // namespace kiln_host

#define threadIdx (::kiln_host::g_current->idx)
#define blockIdx (::kiln_host::g_block_idx)
#define blockDim (::kiln_host::g_block_dim)
#define gridDim (::kiln_host::g_grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)

inline void __syncthreads() { kiln_host::wait(kiln_host::State::AtBlockBarrier); }

// Every lane of the warp publishes its value, then reads its partner's (the mask is always full).
template <class T> T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  static_assert(sizeof(T) <= sizeof(kiln_host::Fiber::slot));
  unsigned lane = kiln_host::linear_tid();
  std::memcpy(kiln_host::g_current->slot, &v, sizeof(T));
  kiln_host::wait(kiln_host::State::AtWarpBarrier);
  const kiln_host::Fiber* base = kiln_host::g_current - (lane & 31);
  T r;
  std::memcpy(&r, base[(lane & 31) ^ static_cast<unsigned>(lane_mask)].slot, sizeof(T));
  kiln_host::wait(kiln_host::State::AtWarpBarrier); // the slots are free again
  return r;
}

inline float __int_as_float(int x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}
inline double __longlong_as_double(long long x) {
  double d;
  std::memcpy(&d, &x, sizeof d);
  return d;
}
