#include "server/self_profile.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "planner/placement.h"
#include "runtime/system_memory.h"

namespace tandem::server {
namespace {

constexpr double kAssumedMemoryBytes = 64e9;  // when the OS does not say

// Lowest CPU priority for the calling thread (and the pool threads it starts). On Linux nice is
// per thread; elsewhere the whole process would be affected, so leave it.
void LowerThisThreadsPriority() {
#if defined(__linux__)
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
#endif
}

std::string Describe(const runtime::NodeProfile& p) {
  return planner::FormatFlops(p.flops) + (p.flops_lower_bound ? " (lower bound)" : "") + ", " +
         planner::FormatBandwidth(p.bandwidth) + (p.bandwidth_lower_bound ? " (lower bound)" : "");
}

void WarnIfSaturated(const std::string& node_id, const runtime::NodeProfile& p) {
  if (p.saturated_layers == 0) return;
  spdlog::warn(
      "node={} emulation saturated while profiling: the host computed {} layers slower than the "
      "emulated device, so the profile is partly the host's",
      node_id, p.saturated_layers);
}

}  // namespace

SelfProfile::SelfProfile(const model::LlamaModel& model, SelfProfileOptions o)
    : model_(model), o_(std::move(o)) {}

SelfProfile::~SelfProfile() { Stop(); }

StatusOr<std::unique_ptr<SelfProfile>> SelfProfile::Start(const model::LlamaModel& model,
                                                          SelfProfileOptions o) {
  std::unique_ptr<SelfProfile> s(new SelfProfile(model, std::move(o)));
  const SelfProfileOptions& opts = s->o_;
  s->key_ = runtime::MakeProfileCacheKey(model, opts.emulation, opts.threads);
  s->RefreshMemory();
  std::optional<runtime::NodeProfile> cached;
  if (!opts.cache_dir.empty()) {
    auto c = runtime::LoadCachedProfile(opts.cache_dir, s->key_);
    if (!c.ok()) {
      spdlog::warn("node={} profile cache ignored: {}", opts.node_id, c.status().ToString());
    } else {
      cached = *c;
    }
  }
  if (cached) {
    s->profile_ = *cached;
    spdlog::info("node={} profile from cache {}: {} (re-measuring in the background)", opts.node_id,
                 runtime::ProfileCachePath(opts.cache_dir, s->key_), Describe(*cached));
    SelfProfile* p = s.get();
    s->refresher_ = std::thread([p] { p->Refresh(p->o_.refresh_delay_s); });
    return s;
  }
  if (opts.emulation.enabled()) {
    // Measuring paced passes takes seconds: start with the declared device so that the node
    // joins the cluster at once, and measure it in the background straight away.
    s->profile_.source = "declared";
    s->profile_.flops = opts.emulation.flops;
    s->profile_.bandwidth = opts.emulation.bandwidth;
    s->profile_.method = "the --emulate parameters, until measured";
    spdlog::info("node={} profile declared by --emulate: {} (measuring in the background)",
                 opts.node_id, Describe(s->profile_));
    SelfProfile* p = s.get();
    s->refresher_ = std::thread([p] { p->Refresh(/*delay_s=*/0); });
    return s;
  }
  runtime::ProfileOptions po;
  po.emulation = opts.emulation;
  po.threads = opts.threads;
  ASSIGN_OR_RETURN(s->profile_, runtime::MeasureNodeProfile(model, po));
  spdlog::info("node={} profile {} in {:.2f} s: {} ({})", opts.node_id, s->profile_.source,
               s->profile_.measure_s, Describe(s->profile_), s->profile_.method);
  WarnIfSaturated(opts.node_id, s->profile_);
  if (!opts.cache_dir.empty()) {
    if (Status st = runtime::StoreCachedProfile(opts.cache_dir, s->key_, s->profile_); !st.ok()) {
      spdlog::warn("node={} profile not cached: {}", opts.node_id, st.ToString());
    }
  }
  return s;
}

void SelfProfile::Stop() {
  {
    std::lock_guard<std::mutex> l(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

bool SelfProfile::WaitStop(double seconds) {
  std::unique_lock<std::mutex> l(stop_mu_);
  return stop_cv_.wait_for(l, std::chrono::duration<double>(seconds),
                           [this] { return stopping_.load(); });
}

// Re-measures once, in a quiet moment: waits until no request runs, measures, and keeps the
// result only when no request started meanwhile (else tries again a little later).
void SelfProfile::Refresh(double delay_s) {
  LowerThisThreadsPriority();
  if (WaitStop(delay_s)) return;
  runtime::ProfileOptions po;
  po.emulation = o_.emulation;
  po.threads = o_.threads;
  po.cancel = &stopping_;
  for (int attempt = 0; attempt < 100; ++attempt) {
    while (active_.load() > 0) {
      if (WaitStop(0.1)) return;
    }
    const uint64_t seq = started_.load();
    auto p = runtime::MeasureNodeProfile(model_, po);
    if (stopping_) return;
    if (!p.ok()) {
      spdlog::warn("node={} background profile failed, keeping the {} one: {}", o_.node_id,
                   profile().source, p.status().ToString());
      return;
    }
    if (active_.load() > 0 || started_.load() != seq) {
      if (WaitStop(1.0)) return;  // a request ran meanwhile: both timings are suspect
      continue;
    }
    // Cached first: whoever sees the new profile finds it on disk too.
    if (!o_.cache_dir.empty()) {
      if (Status st = runtime::StoreCachedProfile(o_.cache_dir, key_, *p); !st.ok()) {
        spdlog::warn("node={} profile not cached: {}", o_.node_id, st.ToString());
      }
    }
    runtime::NodeProfile old;
    {
      std::lock_guard<std::mutex> l(mu_);
      old = profile_;
      profile_ = *p;
    }
    spdlog::info("node={} profile re-measured in the background ({}): {} (was: {})", o_.node_id,
                 p->source, Describe(*p), Describe(old));
    WarnIfSaturated(o_.node_id, *p);
    return;
  }
}

std::string SelfProfile::RefreshMemory() {
  double total = 0, free = 0;
  std::string source;
  if (o_.emulation.memory > 0) {
    total = free = o_.emulation.memory;  // the emulated machine's memory, not this one's
    source = "emulation";
  } else if (auto m = runtime::ReadSystemMemory(); m.ok()) {
    // What a placement here may take: the planner counts the model's weights itself, so add
    // back the repacked copy of them that this process already holds (anonymous memory the OS
    // counts as used; its file pages were dropped). The mapped file's pages MemAvailable already
    // counts as reclaimable, and the KV caches of requests in flight as used.
    total = m->total_bytes;
    free = std::min(total, m->available_bytes + static_cast<double>(model_.packed_bytes()));
    source = "os";
  } else {
    std::lock_guard<std::mutex> l(mu_);
    if (memory_total_ > 0) return "";  // keep the last reading
    total = free = kAssumedMemoryBytes;
    source = "assumed (" + m.status().message() + ")";
  }
  std::lock_guard<std::mutex> l(mu_);
  memory_total_ = total;
  memory_free_ = free;
  memory_source_ = source;
  if (reported_free_ > 0 && std::abs(free - reported_free_) <= 0.1 * reported_free_) return "";
  std::string change;
  if (reported_free_ > 0) {
    change = "free memory " + std::string(free < reported_free_ ? "fell" : "rose") + " from " +
             planner::FormatBytes(reported_free_) + " to " + planner::FormatBytes(free) + " (" +
             source + ", of " + planner::FormatBytes(total) + ")";
  }
  reported_free_ = free;
  return change;
}

runtime::NodeProfile SelfProfile::profile() const {
  std::lock_guard<std::mutex> l(mu_);
  return profile_;
}

planner::DeviceProfile SelfProfile::Device() const {
  std::lock_guard<std::mutex> l(mu_);
  return runtime::PlannerDevice(o_.node_id, profile_, memory_total_, memory_free_);
}

nlohmann::json SelfProfile::Json() const {
  std::lock_guard<std::mutex> l(mu_);
  nlohmann::json j = runtime::ProfileJson(profile_);
  j["memory"] = memory_total_;  // total, as before
  j["memory_total"] = memory_total_;
  j["memory_free"] = memory_free_;
  j["memory_source"] = memory_source_;
  j["emulated"] = o_.emulation.enabled();
  return j;
}

}  // namespace tandem::server
