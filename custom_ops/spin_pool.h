// A small process-wide thread pool for the direct engine (direct_run.cc).
//
// The direct engine runs outside TensorFlow (called through ctypes), so it cannot use
// TensorFlow's intra-op pool. A batch-1 call of a small network lasts tens of microseconds and
// has one synchronisation per layer: waking a sleeping thread (a few microseconds through the
// kernel) would cost as much as the work, so idle workers spin for a short while before they
// sleep, and waits spin (yielding the CPU when the wait is long, e.g. on a loaded machine).
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_SPIN_POOL_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_SPIN_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace akida_ops {

class SpinPool {
 public:
  // Runs `fn` (see Run) on the process's pool of `threads` participants (the caller is one of
  // them), created on first use, and again when `threads` changes or after a fork (a child has
  // none of its parent's threads). Calls from several threads take turns. `busy` (at most
  // `threads`) is the number of participants that have work: with 1, fn(0) runs on the caller
  // alone and the pool's workers are neither woken nor rebuilt.
  static void RunOn(int busy, int threads, const std::function<void(int)>& fn);

  // Waits (spinning, then yielding the CPU) until done() is true.
  template <typename Done>
  static void WaitUntil(const Done& done) {
    for (int i = 1; !done(); ++i) Pause(i);
  }

  SpinPool(const SpinPool&) = delete;
  SpinPool& operator=(const SpinPool&) = delete;

 private:
  explicit SpinPool(int threads);
  static void Pause(int iteration);
  void Stop();
  void Worker(int t);

  // Runs fn(0) on the calling thread and fn(t) on each worker t that joins before fn(0)
  // returns; returns when every call has returned. A worker descheduled by other work may never
  // join: fn(0) alone must be able to do all the work (take work from shared counters, and wait
  // for work items to complete rather than for threads to arrive).
  void Run(const std::function<void(int)>& fn);

  const int threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> open_{0};  // the generation workers may still join, 0: closed
  std::atomic<int> active_{0};     // workers inside the current job
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_SPIN_POOL_H_
