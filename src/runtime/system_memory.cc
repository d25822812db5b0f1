#include "runtime/system_memory.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace tandem::runtime {

StatusOr<SystemMemory> ParseMeminfo(std::string_view text) {
  std::map<std::string, double, std::less<>> kb;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view rest = line.substr(colon + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    uint64_t v = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc()) continue;
    const std::string_view unit(end, rest.data() + rest.size() - end);
    const double scale = unit.find("kB") != std::string_view::npos ? 1024.0 : 1.0;
    kb[std::string(line.substr(0, colon))] = static_cast<double>(v) * scale;
  }
  const auto get = [&](std::string_view key) {
    const auto it = kb.find(key);
    return it == kb.end() ? -1.0 : it->second;
  };
  SystemMemory m;
  m.total_bytes = get("MemTotal");
  if (!(m.total_bytes > 0)) return DataLoss("meminfo has no MemTotal");
  m.available_bytes = get("MemAvailable");
  if (m.available_bytes < 0) {
    const double free = get("MemFree"), buffers = get("Buffers"), cached = get("Cached");
    if (free < 0) return DataLoss("meminfo has neither MemAvailable nor MemFree");
    m.available_bytes = free + std::max(0.0, buffers) + std::max(0.0, cached);
  }
  m.available_bytes = std::min(m.available_bytes, m.total_bytes);
  return m;
}

StatusOr<SystemMemory> ReadSystemMemory() {
  std::ifstream f("/proc/meminfo");
  if (f) {
    std::stringstream ss;
    ss << f.rdbuf();
    auto m = ParseMeminfo(ss.str());
    if (!m.ok()) return m.status().WithContext("/proc/meminfo");
    return m;
  }
  const long page = sysconf(_SC_PAGESIZE);
  const long pages = sysconf(_SC_PHYS_PAGES);
  if (page <= 0 || pages <= 0) return Unavailable("the OS reports no physical memory size");
  SystemMemory m;
  m.total_bytes = static_cast<double>(page) * static_cast<double>(pages);
  m.available_bytes = m.total_bytes;
#ifdef _SC_AVPHYS_PAGES
  if (const long avail = sysconf(_SC_AVPHYS_PAGES); avail > 0) {
    m.available_bytes = static_cast<double>(page) * static_cast<double>(avail);
  }
#endif
  return m;
}

}  // namespace tandem::runtime
