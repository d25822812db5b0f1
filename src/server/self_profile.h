// This node's own profile as the planner sees it (DESIGN §6): FLOP/s and bandwidth from the disk
// cache at once (then re-measured in the background, at low priority, while no request runs) or
// measured at start; free and total memory re-read from the OS (or the emulated device's memory).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <thread>

#include "base/status.h"
#include "model/llama_model.h"
#include "planner/profiles.h"
#include "runtime/emulation.h"
#include "runtime/node_profile.h"
#include "runtime/profile_cache.h"

namespace tandem::server {

struct SelfProfileOptions {
  std::string node_id;
  runtime::DeviceEmulation emulation;
  int threads = 1;
  std::string cache_dir;       // empty: no disk cache
  double refresh_delay_s = 2;  // the background re-measurement waits this long after start
};

class SelfProfile {
 public:
  // Takes the cached profile when there is a valid one (an unreadable or corrupt cache file is a
  // warning) and re-measures it in the background; else measures now and stores the result.
  // `model` must outlive this object.
  static StatusOr<std::unique_ptr<SelfProfile>> Start(const model::LlamaModel& model,
                                                      SelfProfileOptions o);
  ~SelfProfile();
  void Stop();  // ends the background measurement (quickly) and joins it

  runtime::NodeProfile profile() const;
  // The planner's device: the profile and the memory as last read.
  planner::DeviceProfile Device() const;
  // Re-reads the memory. Returns what changed, in words, when free memory moved by more than
  // 10 % since the last time it was reported; else empty.
  std::string RefreshMemory();
  // The profile with its memory (/v1/node, /cluster).
  nlohmann::json Json() const;

  // Held while a request computes on this node, so that the background re-measurement neither
  // slows it down nor times itself against it.
  class Busy {
   public:
    explicit Busy(SelfProfile* p) : p_(p) {
      ++p_->active_;
      ++p_->started_;
    }
    ~Busy() { --p_->active_; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    SelfProfile* p_;
  };

 private:
  SelfProfile(const model::LlamaModel& model, SelfProfileOptions o);
  void Refresh(double delay_s);   // the background thread: measures after delay_s
  bool WaitStop(double seconds);  // true when stopping

  const model::LlamaModel& model_;
  SelfProfileOptions o_;
  runtime::ProfileCacheKey key_;
  mutable std::mutex mu_;
  runtime::NodeProfile profile_;
  double memory_total_ = 0, memory_free_ = 0;
  double reported_free_ = 0;   // free memory when a change was last reported
  std::string memory_source_;  // "os" or "emulation"
  std::atomic<int> active_{0};
  std::atomic<uint64_t> started_{0};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::thread refresher_;
};

}  // namespace tandem::server
