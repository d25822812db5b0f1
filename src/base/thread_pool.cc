#include "base/thread_pool.h"

#include <algorithm>

namespace tandem::base {
namespace {

// Spin iterations (each a CPU pause, ~tens of ns) before a worker or the caller blocks.
constexpr int kSpinIterations = 20000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int ThreadPool::HardwareThreads() { return std::max(1u, std::thread::hardware_concurrency()); }

void ThreadPool::RunTasks(Loop& loop, int thread) {
  for (;;) {
    const int64_t task = loop.next.fetch_add(1, std::memory_order_relaxed);
    if (task >= loop.n_tasks) return;
    (*loop.fn)(task, thread);
    loop.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::WorkerLoop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    for (int i = 0; i < kSpinIterations && generation_.load(std::memory_order_acquire) == seen;
         ++i) {
      CpuRelax();
    }
    std::shared_ptr<Loop> loop;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      if (stop_) return;
      seen = generation_.load();
      loop = loop_;
    }
    RunTasks(*loop, thread);
    if (loop->done.load(std::memory_order_acquire) == loop->n_tasks) {
      std::lock_guard<std::mutex> lock(mu_);
      done_.notify_all();
    }
  }
}

void ThreadPool::ParallelFor(int64_t n_tasks,
                             const std::function<void(int64_t task, int thread)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mu_);
  auto loop = std::make_shared<Loop>();
  loop->fn = &fn;
  loop->n_tasks = n_tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop_ = loop;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  RunTasks(*loop, 0);
  // Every task is claimed; wait until the ones other threads run have finished. `fn` stays
  // untouched by late workers: they find no task left.
  auto finished = [&] { return loop->done.load(std::memory_order_acquire) == n_tasks; };
  for (int i = 0; i < kSpinIterations && !finished(); ++i) CpuRelax();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, finished);
}

}  // namespace tandem::base
