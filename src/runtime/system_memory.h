// Free and total memory of this machine, from the OS: MemAvailable and MemTotal of /proc/meminfo
// on Linux, sysconf elsewhere.
#pragma once

#include <string_view>

#include "base/status.h"

namespace tandem::runtime {

struct SystemMemory {
  double total_bytes = 0;
  // What new allocations may take without swapping: MemAvailable counts reclaimable page cache
  // as available, including the pages of a memory-mapped model file.
  double available_bytes = 0;
};

// Parses the text of /proc/meminfo ("MemTotal:  16318412 kB" lines). Needs MemTotal; without
// MemAvailable (kernels before 3.14) uses MemFree + Buffers + Cached.
StatusOr<SystemMemory> ParseMeminfo(std::string_view text);

// This machine's memory now: /proc/meminfo where it exists, else sysconf(_SC_PHYS_PAGES) for the
// total and sysconf(_SC_AVPHYS_PAGES) for the available memory where the platform defines it
// (macOS does not: there the available memory reads as the total).
StatusOr<SystemMemory> ReadSystemMemory();

}  // namespace tandem::runtime
