#include "spin_pool.h"

#include <unistd.h>

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AKIDA_PAUSE() _mm_pause()
#else
#define AKIDA_PAUSE() std::this_thread::yield()
#endif

namespace akida_ops {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle worker spins before it sleeps: longer than the gap between the batch-1 calls
// of a loop over images, short enough not to hold a CPU that other work wants.
constexpr auto kIdleSpin = std::chrono::microseconds(200);
// Waits longer than this yield the CPU between checks (another thread was descheduled).
constexpr int kBusySpins = 4096;

std::mutex g_pool_mu;
SpinPool* g_pool = nullptr;
pid_t g_pool_pid = 0;

}  // namespace

void SpinPool::RunOn(int busy, int threads, const std::function<void(int)>& fn) {
  if (threads < 1) threads = 1;
  if (busy <= 1) {  // no worker needed: the pool is left as it is, for the next call
    fn(0);
    return;
  }
  // Held for the whole run: the pool (and its single job slot) serves one caller at a time.
  std::lock_guard<std::mutex> lock(g_pool_mu);
  const pid_t pid = getpid();
  if (g_pool != nullptr && g_pool_pid != pid) {
    g_pool = nullptr;  // a forked child: the workers do not exist here, the memory is leaked
  }
  if (g_pool != nullptr && g_pool->threads_ != threads) {
    g_pool->Stop();
    delete g_pool;
    g_pool = nullptr;
  }
  if (g_pool == nullptr) {
    // Never destroyed at exit: its threads may still spin while static destructors run.
    g_pool = new SpinPool(threads);
    g_pool_pid = pid;
  }
  g_pool->Run(fn);
}

SpinPool::SpinPool(int threads) : threads_(threads) {
  workers_.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { Worker(t); });
}

void SpinPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

void SpinPool::Pause(int iteration) {
  if (iteration < kBusySpins) {
    AKIDA_PAUSE();
  } else {
    std::this_thread::yield();
  }
}

void SpinPool::Worker(int t) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t generation = generation_.load(std::memory_order_acquire);
    if (generation == seen) {
      const Clock::time_point start = Clock::now();
      for (int i = 1; generation == seen; ++i) {
        if (stop_.load(std::memory_order_acquire)) return;
        AKIDA_PAUSE();
        if ((i & 255) == 0 && Clock::now() - start > kIdleSpin) {
          std::unique_lock<std::mutex> lock(mu_);
          sleeping_.fetch_add(1, std::memory_order_acq_rel);
          cv_.wait(lock, [&] {
            return generation_.load(std::memory_order_acquire) != seen ||
                   stop_.load(std::memory_order_acquire);
          });
          sleeping_.fetch_sub(1, std::memory_order_acq_rel);
        }
        generation = generation_.load(std::memory_order_acquire);
      }
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation;
    // Join only while the caller has not finished: announce first, then check (sequentially
    // consistent, against the caller's close-then-count in Run).
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (open_.load(std::memory_order_seq_cst) == generation) {
      (*job_.load(std::memory_order_acquire))(t);
    }
    active_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void SpinPool::Run(const std::function<void(int)>& fn) {
  if (threads_ == 1) {
    fn(0);
    return;
  }
  job_.store(&fn, std::memory_order_release);
  {
    // Under the lock: a worker about to sleep either sees the new generation or is counted in
    // sleeping_ before it waits, so that the notification below reaches it.
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
    open_.store(generation, std::memory_order_seq_cst);
    generation_.store(generation, std::memory_order_release);
  }
  if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  fn(0);
  open_.store(0, std::memory_order_seq_cst);
  WaitUntil([this] { return active_.load(std::memory_order_seq_cst) == 0; });
  job_.store(nullptr, std::memory_order_release);
}

}  // namespace akida_ops
