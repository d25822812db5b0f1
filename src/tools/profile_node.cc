#include "tools/profile_node.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "model/llama_model.h"
#include "planner/placement.h"
#include "runtime/emulation.h"
#include "runtime/node_profile.h"
#include "runtime/profile_cache.h"
#include "runtime/system_memory.h"
#include "tools/commands.h"

namespace tandem::tools {

int RunNodeProfile(const NodeProfileArgs& a) {
  runtime::ProfileOptions po;
  po.threads = a.threads;
  if (!a.emulate.empty()) {
    auto e = runtime::DeviceEmulation::Parse(a.emulate);
    if (!e.ok()) return ReportError(e.status());
    if (!e->enabled()) return ReportError(InvalidArgument("--emulate needs flops and bw"));
    po.emulation = *e;
  }
  auto model = model::LlamaModel::Load(a.model);
  if (!model.ok()) return ReportError(model.status());
  std::fprintf(stderr, "measuring the node profile (%s) ...\n",
               po.emulation.enabled() ? "paced forward passes of the emulated device"
                                      : "our kernels on this machine");
  auto p = runtime::MeasureNodeProfile(**model, po);
  if (!p.ok()) return ReportError(p.status());
  nlohmann::json j = runtime::ProfileJson(*p);
  double total = 0, free = 0;
  std::string memory_source = "os";
  if (po.emulation.memory > 0) {
    total = free = po.emulation.memory;
    memory_source = "emulation";
  } else if (auto m = runtime::ReadSystemMemory(); m.ok()) {
    total = m->total_bytes;
    free = m->available_bytes;
  } else {
    memory_source = m.status().message();
  }
  j["memory_total"] = total;
  j["memory_free"] = free;
  j["memory_source"] = memory_source;
  if (po.emulation.enabled()) {
    j["emulation"] = {{"flops", po.emulation.flops}, {"bandwidth", po.emulation.bandwidth}};
  }
  const runtime::ProfileCacheKey key =
      runtime::MakeProfileCacheKey(**model, po.emulation, po.threads);
  j["key"] = {{"machine", key.machine},
              {"build", key.build},
              {"model", key.model},
              {"emulation", key.emulation},
              {"threads", key.threads}};
  const std::string dir = a.cache_dir.empty() ? runtime::DefaultProfileCacheDir() : a.cache_dir;
  j["cache"] = nullptr;
  if (a.cache && !dir.empty()) {
    if (Status st = runtime::StoreCachedProfile(dir, key, *p); st.ok()) {
      j["cache"] = runtime::ProfileCachePath(dir, key);
    } else {
      std::fprintf(stderr, "warning: %s\n", st.ToString().c_str());
    }
  }
  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("machine            %s\n", key.machine.c_str());
  std::printf("build              %s\n", key.build.c_str());
  std::printf("model              %s (%s)\n", a.model.c_str(), key.model.c_str());
  std::printf("source             %s: %s\n", p->source.c_str(), p->method.c_str());
  std::printf("prefill            %s%s\n", planner::FormatFlops(p->flops).c_str(),
              p->flops_lower_bound ? " (lower bound: never compute-bound)" : "");
  std::printf("decode             %s%s\n", planner::FormatBandwidth(p->bandwidth).c_str(),
              p->bandwidth_lower_bound ? " (lower bound: compute-bound)" : "");
  if (po.emulation.enabled()) {
    std::printf("emulated device    %s, %s (measured / emulated: %.3f, %.3f)\n",
                planner::FormatFlops(po.emulation.flops).c_str(),
                planner::FormatBandwidth(po.emulation.bandwidth).c_str(),
                p->flops / po.emulation.flops, p->bandwidth / po.emulation.bandwidth);
    if (p->saturated_layers > 0) {
      std::printf(
          "warning            the host computed %lld layers slower than the emulated "
          "device: those timings are the host's\n",
          static_cast<long long>(p->saturated_layers));
    }
  }
  std::printf("memory             %s free of %s (%s)\n", planner::FormatBytes(free).c_str(),
              planner::FormatBytes(total).c_str(), memory_source.c_str());
  std::printf("measured in        %.2f s\n", p->measure_s);
  std::printf("cache              %s\n",
              j["cache"].is_null() ? "not stored" : j["cache"].get<std::string>().c_str());
  return 0;
}

}  // namespace tandem::tools
