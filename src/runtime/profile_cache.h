// The node profile cached on disk (DESIGN §6), one JSON file per key: the machine (CPU model,
// hardware threads, total memory), the build (compiler, kernel targets, profiler version), the
// model (fingerprint, weight type), the compute threads and, on an emulated node, the emulated
// device. A node that finds its entry starts with it and re-measures in the background.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "base/status.h"
#include "model/llama_model.h"
#include "runtime/emulation.h"
#include "runtime/node_profile.h"

namespace tandem::runtime {

struct ProfileCacheKey {
  std::string machine;    // "AMD EPYC 7B13, 2 threads, 8 GiB"
  std::string build;      // "profiler 1, gcc 12.2.0, AVX3 (Highway) + AVX-512 VNNI"
  std::string model;      // "fingerprint 0123456789abcdef, F16"
  std::string emulation;  // "flops=…,bw=…", or "none"
  int threads = 1;

  // A hash of every field: the cache file's name.
  std::string Id() const;
  bool operator==(const ProfileCacheKey&) const = default;
};

ProfileCacheKey MakeProfileCacheKey(const model::LlamaModel& model, const DeviceEmulation& emu,
                                    int threads);

// This machine and this build, as they enter the key.
std::string MachineDescription();
std::string BuildDescription();

// $TANDEM_CACHE_DIR, else $XDG_CACHE_HOME/tandem, else $HOME/.cache/tandem; empty when none of
// them is set (no cache).
std::string DefaultProfileCacheDir();

// `dir`/profile-<key id>.json
std::string ProfileCachePath(const std::string& dir, const ProfileCacheKey& key);

// The cached profile for `key` (source "cache"); nullopt when there is none or the file is for
// another key; an error when the file cannot be read or is not a valid entry.
StatusOr<std::optional<NodeProfile>> LoadCachedProfile(const std::string& dir,
                                                       const ProfileCacheKey& key);
// Writes the entry atomically (a temporary file renamed over it), creating `dir`.
Status StoreCachedProfile(const std::string& dir, const ProfileCacheKey& key,
                          const NodeProfile& profile);

// The profile as JSON (/v1/node, /cluster, `tandem profile --node --json`).
nlohmann::json ProfileJson(const NodeProfile& p);

}  // namespace tandem::runtime
