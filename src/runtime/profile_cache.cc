#include "runtime/profile_cache.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/hash.h"
#include "base/thread_pool.h"
#include "kernels/cpu/matmul.h"
#include "runtime/system_memory.h"

namespace tandem::runtime {
namespace {

using nlohmann::json;

// Bump when the measurement changes, so that old entries are not taken for new ones.
constexpr int kProfilerVersion = 1;
constexpr int kFileFormat = 1;

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// "model name" on x86; "CPU implementer" and "CPU part" on Arm; else the machine from uname.
std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, implementer, part;
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (key == "model name" && !value.empty()) return value;
    if (key == "CPU implementer" && implementer.empty()) implementer = value;
    if (key == "CPU part" && part.empty()) part = value;
  }
  if (!implementer.empty()) return "arm implementer " + implementer + " part " + part;
  utsname u{};
  if (uname(&u) == 0) return std::string(u.sysname) + " " + u.machine;
  return "unknown CPU";
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

json KeyJson(const ProfileCacheKey& k) {
  return {{"machine", k.machine},
          {"build", k.build},
          {"model", k.model},
          {"emulation", k.emulation},
          {"threads", k.threads}};
}

}  // namespace

std::string ProfileCacheKey::Id() const {
  Fnv1a h;
  h.Str(machine);
  h.Str(build);
  h.Str(model);
  h.Str(emulation);
  h.U64(static_cast<uint64_t>(threads));
  return Hex(h.value());
}

std::string MachineDescription() {
  std::string total = "unknown memory";
  if (auto m = ReadSystemMemory(); m.ok()) {
    total = std::to_string(std::llround(m->total_bytes / (1024.0 * 1024 * 1024))) + " GiB";
  }
  return CpuModel() + ", " + std::to_string(base::ThreadPool::HardwareThreads()) + " threads, " +
         total;
}

std::string BuildDescription() {
#if defined(__clang__)
  const std::string compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  const std::string compiler = std::string("gcc ") + __VERSION__;
#else
  const std::string compiler = "unknown compiler";
#endif
  return "profiler " + std::to_string(kProfilerVersion) + ", " + compiler + ", " +
         kernels::cpu::KernelTargets();
}

ProfileCacheKey MakeProfileCacheKey(const model::LlamaModel& model, const DeviceEmulation& emu,
                                    int threads) {
  ProfileCacheKey k;
  k.machine = MachineDescription();
  k.build = BuildDescription();
  k.model = "fingerprint " + Hex(model.fingerprint()) + ", " +
            std::string(kernels::WeightTypeName(DominantWeightType(model)));
  k.emulation =
      emu.enabled() ? "flops=" + Number(emu.flops) + ",bw=" + Number(emu.bandwidth) : "none";
  k.threads = threads;
  return k;
}

std::string DefaultProfileCacheDir() {
  if (const char* d = std::getenv("TANDEM_CACHE_DIR"); d != nullptr && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d != nullptr && *d) {
    return std::string(d) + "/tandem";
  }
  if (const char* d = std::getenv("HOME"); d != nullptr && *d) {
    return std::string(d) + "/.cache/tandem";
  }
  return "";
}

std::string ProfileCachePath(const std::string& dir, const ProfileCacheKey& key) {
  return dir + "/profile-" + key.Id() + ".json";
}

json ProfileJson(const NodeProfile& p) {
  return {{"flops", p.flops},
          {"bandwidth", p.bandwidth},
          {"source", p.source},
          {"method", p.method},
          {"weight_type", p.weight_type},
          {"measured_unix_s", p.measured_unix_s},
          {"measure_s", p.measure_s},
          {"flops_lower_bound", p.flops_lower_bound},
          {"bandwidth_lower_bound", p.bandwidth_lower_bound},
          {"saturated_layers", p.saturated_layers}};
}

StatusOr<std::optional<NodeProfile>> LoadCachedProfile(const std::string& dir,
                                                       const ProfileCacheKey& key) {
  const std::string path = ProfileCachePath(dir, key);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<NodeProfile>();
  std::ifstream f(path, std::ios::binary);
  if (!f) return Unavailable("cannot read the profile cache " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  const json j = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& why) {
    return DataLoss("profile cache " + path + " is not a valid entry (" + why + ")");
  };
  if (j.is_discarded() || !j.is_object()) return bad("not JSON");
  if (j.value("format", 0) != kFileFormat) return bad("unknown format");
  if (!j.contains("key") || j["key"] != KeyJson(key)) return std::optional<NodeProfile>();
  if (!j.contains("profile") || !j["profile"].is_object()) return bad("no profile");
  const json& pj = j["profile"];
  NodeProfile p;
  try {
    p.flops = pj.at("flops").get<double>();
    p.bandwidth = pj.at("bandwidth").get<double>();
    p.method = "cached " + pj.value("source", std::string("?")) +
               " measurement: " + pj.value("method", std::string());
    p.weight_type = pj.value("weight_type", "");
    p.measured_unix_s = pj.value("measured_unix_s", 0.0);
    p.measure_s = pj.value("measure_s", 0.0);
    p.flops_lower_bound = pj.value("flops_lower_bound", false);
    p.bandwidth_lower_bound = pj.value("bandwidth_lower_bound", false);
    p.saturated_layers = pj.value("saturated_layers", int64_t{0});
  } catch (const json::exception& e) {
    return bad(e.what());
  }
  if (!p.Valid()) return bad("flops and bandwidth must be positive");
  p.source = "cache";
  return std::optional<NodeProfile>(p);
}

Status StoreCachedProfile(const std::string& dir, const ProfileCacheKey& key,
                          const NodeProfile& profile) {
  if (dir.empty()) return InvalidArgument("no profile cache directory");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create the profile cache " + dir + ": " + ec.message());
  const std::string path = ProfileCachePath(dir, key);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  json j = {{"format", kFileFormat}, {"key", KeyJson(key)}, {"profile", ProfileJson(profile)}};
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << j.dump(2) << "\n";
    if (!f.flush()) return Unavailable("cannot write the profile cache " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Unavailable("cannot write the profile cache " + path);
  }
  return OkStatus();
}

}  // namespace tandem::runtime
