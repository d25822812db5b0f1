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

// Each thread counts the tasks it ran and adds them to `done` once, when it finds none left: an
// atomic add per task moved the counter's cache line between the cores at every task.
void ThreadPool::RunTasks(Loop& loop, int thread) {
  int64_t ran = 0;
  for (;;) {
    const int64_t task = loop.next.fetch_add(1, std::memory_order_relaxed);
    if (task >= loop.n_tasks) break;
    (*loop.fn)(task, thread);
    ++ran;
  }
  if (ran > 0) loop.done.fetch_add(ran, std::memory_order_acq_rel);
}

namespace {

constexpr uint64_t Pack(int64_t first, int64_t end) {
  return static_cast<uint64_t>(first) << 32 | static_cast<uint64_t>(end);
}

// Takes the first task (from_front) or the last of a share; -1 when it is empty.
int64_t Take(std::atomic<uint64_t>& range, bool from_front) {
  uint64_t r = range.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t first = static_cast<int64_t>(r >> 32), end = static_cast<int64_t>(r & 0xffffffff);
    if (first >= end) return -1;
    const uint64_t left = from_front ? Pack(first + 1, end) : Pack(first, end - 1);
    if (range.compare_exchange_weak(r, left, std::memory_order_relaxed)) {
      return from_front ? first : end - 1;
    }
  }
}

}  // namespace

void ThreadPool::RunShares(Loop& loop, int thread) {
  int64_t ran = 0;
  auto run = [&](int64_t task) {
    (*loop.fn)(task, thread);
    ++ran;
  };
  for (int64_t task; (task = Take(loop.shares[thread].range, true)) >= 0;) run(task);
  // Then the other shares in turn, each from its end (away from where its owner reads).
  for (int i = 1; i < loop.n_shares; ++i) {
    auto& range = loop.shares[(thread + i) % loop.n_shares].range;
    for (int64_t task; (task = Take(range, false)) >= 0;) run(task);
  }
  if (ran > 0) loop.done.fetch_add(ran, std::memory_order_acq_rel);
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
    loop->shares ? RunShares(*loop, thread) : RunTasks(*loop, thread);
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
  auto loop = std::make_shared<Loop>();
  loop->fn = &fn;
  loop->n_tasks = n_tasks;
  Run(loop);
}

void ThreadPool::ParallelForShares(int64_t n_tasks,
                                   const std::function<void(int64_t task, int thread)>& fn) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1 || n_tasks > int64_t{0xffffffff}) {
    return ParallelFor(n_tasks, fn);
  }
  auto loop = std::make_shared<Loop>();
  loop->fn = &fn;
  loop->n_tasks = n_tasks;
  loop->n_shares = n_threads_;
  loop->shares = std::make_unique<Loop::Share[]>(n_threads_);
  for (int i = 0; i < n_threads_; ++i) {
    loop->shares[i].range.store(Pack(n_tasks * i / n_threads_, n_tasks * (i + 1) / n_threads_),
                                std::memory_order_relaxed);
  }
  Run(loop);
}

void ThreadPool::Run(const std::shared_ptr<Loop>& loop) {
  std::lock_guard<std::mutex> run_lock(run_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    loop_ = loop;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  loop->shares ? RunShares(*loop, 0) : RunTasks(*loop, 0);
  // Every task is claimed; wait until the ones other threads run have finished. `fn` stays
  // untouched by late workers: they find no task left.
  const int64_t n_tasks = loop->n_tasks;
  auto finished = [&] { return loop->done.load(std::memory_order_acquire) == n_tasks; };
  for (int i = 0; i < kSpinIterations && !finished(); ++i) CpuRelax();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, finished);
}

}  // namespace tandem::base
