// A fixed set of worker threads that run one parallel loop at a time. A node creates one pool and
// passes it explicitly to whatever computes (a prefill and a decode can share it: their loops take
// turns). No singletons.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
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

  // As ParallelFor, but each thread starts on a contiguous share of the tasks (thread i on the
  // i-th of size() shares) and runs it in ascending order; a thread whose share runs out takes
  // tasks one at a time from the end of another's. For loops that stream memory in task order
  // (decode's matrix-vector products): each core then reads one ascending stream, which its
  // hardware prefetchers follow, where ParallelFor interleaves the threads' tasks and restarts
  // every thread's stream at each task. A late or preempted thread still holds nobody up.
  void ParallelForShares(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Hardware threads of this machine (>= 1).
  static int HardwareThreads();

 private:
  void WorkerLoop(int thread);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_mu_;  // one ParallelFor at a time
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // One ParallelFor. Shared with the workers, so a worker that wakes late (the machine is busy)
  // finds an exhausted loop instead of holding up the caller: the caller waits for the tasks to
  // finish, not for every worker to check in.
  struct Loop {
    const std::function<void(int64_t, int)>* fn = nullptr;
    int64_t n_tasks = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    // ParallelForShares: per thread, the tasks [first, end) of its share not yet taken, packed as
    // first << 32 | end. Empty for ParallelFor.
    struct alignas(64) Share {
      std::atomic<uint64_t> range{0};
    };
    std::unique_ptr<Share[]> shares;
    int n_shares = 0;
  };
  static void RunTasks(Loop& loop, int thread);
  static void RunShares(Loop& loop, int thread);
  void Run(const std::shared_ptr<Loop>& loop);

  std::shared_ptr<Loop> loop_;           // guarded by mu_
  std::atomic<uint64_t> generation_{0};  // bumped (under mu_) for each loop
  bool stop_ = false;                    // guarded by mu_
};

}  // namespace tandem::base
