#include "runtime/system_memory.h"

#include <gtest/gtest.h>

namespace tandem::runtime {
namespace {

TEST(SystemMemory, ParsesMeminfo) {
  auto m = ParseMeminfo(
      "MemTotal:       16318412 kB\n"
      "MemFree:         1234567 kB\n"
      "MemAvailable:    8000000 kB\n"
      "Buffers:          100000 kB\n"
      "HugePages_Total:       0\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->total_bytes, 16318412.0 * 1024);
  EXPECT_EQ(m->available_bytes, 8000000.0 * 1024);
}

TEST(SystemMemory, OldKernelsWithoutMemAvailableSumFreeBuffersAndCache) {
  auto m = ParseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->available_bytes, 420.0 * 1024);
}

TEST(SystemMemory, MissingTotalIsAnError) {
  EXPECT_EQ(ParseMeminfo("MemFree: 100 kB\n").status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(ParseMeminfo("").ok());
  EXPECT_FALSE(ParseMeminfo("MemTotal: lots\n").ok());
}

TEST(SystemMemory, ThisMachine) {
  auto m = ReadSystemMemory();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GT(m->total_bytes, 64e6);
  EXPECT_GT(m->available_bytes, 0);
  EXPECT_LE(m->available_bytes, m->total_bytes);
}

}  // namespace
}  // namespace tandem::runtime
