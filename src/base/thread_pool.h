// A fixed set of worker threads that run one parallel loop at a time. A node creates one pool and
// passes it explicitly to whatever computes (a prefill and a decode can share it: their loops take
// turns). No singletons.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tandem::base {

class ThreadPool {
 public:
  // `n_threads` >= 1 counts the calling thread: 1 means everything runs inline.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(task, thread) for every task in [0, n_tasks), spread over the threads (the caller is
  // thread 0), and returns when all are done. Tasks are handed out dynamically, one at a time, so
  // make them coarse (a tile of rows, a head). Calls from several threads are serialised.
  // `fn` must not throw.
  void ParallelFor(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Hardware threads of this machine (>= 1).
  static int HardwareThreads();

 private:
  void WorkerLoop(int thread);
  void RunTasks(int thread);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one ParallelFor at a time
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The current loop. Workers spin briefly on generation_ before sleeping on wake_, so the many
  // short loops of a decode step do not each pay a futex wake-up.
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> busy_workers_{0};       // workers still inside the current loop
  std::atomic<uint64_t> generation_{0};    // bumped (under mu_) for each loop
  bool stop_ = false;                      // guarded by mu_
};

}  // namespace tandem::base
