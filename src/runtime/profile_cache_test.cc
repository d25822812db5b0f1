// The node profile: measured by timing paced forward passes on an emulated device (within 10 %
// of the emulation), measured with our kernels otherwise, and cached on disk by key.
#include "runtime/profile_cache.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/sanitizers.h"

namespace tandem::runtime {
namespace {

// Timing bounds need an optimised build (base/sanitizers.h).
constexpr bool kTimingBounds = !base::kSanitized;

const std::string kModel = std::string(TANDEM_TESTDATA_DIR) + "/stories260K.gguf";

std::unique_ptr<model::LlamaModel> Load(const std::string& path = kModel) {
  auto m = model::LlamaModel::Load(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(*m) : nullptr;
}

std::string Dir(const std::string& name) {
  const std::string d = testing::TempDir() + "/" + name;
  std::filesystem::remove_all(d);
  return d;
}

NodeProfile SomeProfile() {
  NodeProfile p;
  p.flops = 1.5e11;
  p.bandwidth = 2.5e10;
  p.source = "measured";
  p.method = "F16 GEMM";
  p.weight_type = "F16";
  p.measured_unix_s = 1.7e9;
  p.measure_s = 0.25;
  return p;
}

TEST(ProfileCache, KeyNamesMachineBuildModelAndEmulation) {
  auto m = Load();
  ASSERT_TRUE(m);
  const ProfileCacheKey k = MakeProfileCacheKey(*m, {}, 1);
  EXPECT_NE(k.machine.find("threads"), std::string::npos) << k.machine;
  EXPECT_NE(k.machine.find("GiB"), std::string::npos) << k.machine;
  EXPECT_NE(k.build.find("profiler"), std::string::npos) << k.build;
  EXPECT_NE(k.model.find("F32"), std::string::npos) << k.model;
  EXPECT_EQ(k.emulation, "none");
  EXPECT_EQ(k, MakeProfileCacheKey(*m, {}, 1));
  EXPECT_EQ(k.Id(), MakeProfileCacheKey(*m, {}, 1).Id());
  // Each part moves the key.
  EXPECT_NE(k.Id(), MakeProfileCacheKey(*m, {}, 2).Id());
  const ProfileCacheKey e = MakeProfileCacheKey(*m, {1e9, 1e8, 0}, 1);
  EXPECT_NE(e.emulation, "none");
  EXPECT_NE(k.Id(), e.Id());
  EXPECT_NE(e.Id(), MakeProfileCacheKey(*m, {1e9, 1.01e8, 0}, 1).Id());
  auto q8 = Load(std::string(TANDEM_TESTDATA_DIR) + "/stories260K-Q8_0.gguf");
  ASSERT_TRUE(q8);
  const ProfileCacheKey kq = MakeProfileCacheKey(*q8, {}, 1);
  EXPECT_NE(kq.model.find("Q8_0"), std::string::npos) << kq.model;
  EXPECT_NE(k.Id(), kq.Id());
}

TEST(ProfileCache, StoresAndLoads) {
  auto m = Load();
  ASSERT_TRUE(m);
  const std::string dir = Dir("cache-roundtrip");
  const ProfileCacheKey k = MakeProfileCacheKey(*m, {}, 1);
  auto none = LoadCachedProfile(dir, k);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(StoreCachedProfile(dir, k, SomeProfile()).ok());
  auto got = LoadCachedProfile(dir, k);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(got->has_value());
  const NodeProfile& p = **got;
  EXPECT_EQ(p.flops, 1.5e11);
  EXPECT_EQ(p.bandwidth, 2.5e10);
  EXPECT_EQ(p.source, "cache");
  EXPECT_EQ(p.method, "cached measured measurement: F16 GEMM");
  EXPECT_EQ(p.measured_unix_s, 1.7e9);
  // Another key finds nothing (not an error).
  ProfileCacheKey other = k;
  other.threads = 7;
  auto miss = LoadCachedProfile(dir, other);
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
  // A file under this key's name that holds another key's entry is a miss too.
  std::filesystem::copy_file(ProfileCachePath(dir, k), ProfileCachePath(dir, other));
  miss = LoadCachedProfile(dir, other);
  ASSERT_TRUE(miss.ok());
  EXPECT_FALSE(miss->has_value());
}

TEST(ProfileCache, CorruptEntriesAreErrorsNotCrashes) {
  auto m = Load();
  ASSERT_TRUE(m);
  const std::string dir = Dir("cache-corrupt");
  const ProfileCacheKey k = MakeProfileCacheKey(*m, {}, 1);
  ASSERT_TRUE(StoreCachedProfile(dir, k, SomeProfile()).ok());
  const std::string path = ProfileCachePath(dir, k);
  const std::string good = [&] {
    std::ifstream f(path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  auto with = [&](const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
    return LoadCachedProfile(dir, k);
  };
  for (const std::string& text : {std::string("{\"format\": 1, \"key"), std::string("[]"),
                                  std::string(""), std::string("{\"format\": 99}")}) {
    auto r = with(text);
    EXPECT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << text;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
  }
  nlohmann::json j = nlohmann::json::parse(good);
  j["profile"]["flops"] = -1;
  EXPECT_FALSE(with(j.dump()).ok());
  j["profile"]["flops"] = "fast";
  EXPECT_FALSE(with(j.dump()).ok());
  j["profile"].erase("flops");
  EXPECT_FALSE(with(j.dump()).ok());
  EXPECT_TRUE(with(good).ok());
  // A directory where the file should be: unreadable, an error.
  std::filesystem::remove(path);
  std::filesystem::create_directories(path);
  EXPECT_FALSE(LoadCachedProfile(dir, k).ok());
}

TEST(ProfileCache, DefaultDirectoryFromTheEnvironment) {
  const char* saved = std::getenv("TANDEM_CACHE_DIR");
  const std::string keep = saved ? saved : "";
  setenv("TANDEM_CACHE_DIR", "/x/tandem-cache", 1);
  EXPECT_EQ(DefaultProfileCacheDir(), "/x/tandem-cache");
  unsetenv("TANDEM_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/y/cache", 1);
  EXPECT_EQ(DefaultProfileCacheDir(), "/y/cache/tandem");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/z/home", 1);
  EXPECT_EQ(DefaultProfileCacheDir(), "/z/home/.cache/tandem");
  if (saved) setenv("TANDEM_CACHE_DIR", keep.c_str(), 1);
}

// The paced measurement times real forward passes: the emulated device's parameters come back
// from the clock within 10 %.
TEST(NodeProfileMeasure, EmulatedDeviceWithinTenPercent) {
  auto m = Load();
  ASSERT_TRUE(m);
  for (const DeviceEmulation emu :
       {DeviceEmulation{200e6, 50e6, 0}, DeviceEmulation{400e6, 20e6, 0}}) {
    ProfileOptions o;
    o.emulation = emu;
    auto p = MeasureNodeProfile(*m, o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    std::printf("emulated %.3g FLOP/s %.3g B/s: measured %.4g (%.3f) %.4g (%.3f) in %.2f s: %s\n",
                emu.flops, emu.bandwidth, p->flops, p->flops / emu.flops, p->bandwidth,
                p->bandwidth / emu.bandwidth, p->measure_s, p->method.c_str());
    EXPECT_EQ(p->source, "emulation");
    EXPECT_EQ(p->weight_type, "F32");
    if (kTimingBounds) {
      EXPECT_NEAR(p->flops / emu.flops, 1.0, 0.10);
      EXPECT_NEAR(p->bandwidth / emu.bandwidth, 1.0, 0.10);
      EXPECT_FALSE(p->flops_lower_bound);
      EXPECT_FALSE(p->bandwidth_lower_bound);
      EXPECT_EQ(p->saturated_layers, 0);
    }
  }
}

// With a FLOP/s figure so high that no prefill chunk the model allows is compute-bound, the
// result says that it is only a lower bound rather than passing the bandwidth (or, should the
// host fall behind the emulated device, the host's speed) off as the device's FLOP/s.
TEST(NodeProfileMeasure, NeverComputeBoundIsFlaggedAsALowerBound) {
  auto m = Load();
  ASSERT_TRUE(m);
  ProfileOptions o;
  o.emulation = {1e15, 100e6, 0};
  o.budget_s = 1;
  auto p = MeasureNodeProfile(*m, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->flops_lower_bound) << p->method << ", saturated layers " << p->saturated_layers;
  EXPECT_LT(p->flops, 1e15);
}

TEST(NodeProfileMeasure, CancelEndsTheMeasurement) {
  auto m = Load();
  ASSERT_TRUE(m);
  std::atomic<bool> cancel{true};
  ProfileOptions o;
  o.emulation = {1e6, 1e5, 0};  // minutes, were it not cancelled
  o.cancel = &cancel;
  auto p = MeasureNodeProfile(*m, o);
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
}

TEST(NodeProfileMeasure, ThisMachinesKernels) {
  auto m = Load();
  ASSERT_TRUE(m);
  auto p = MeasureNodeProfile(*m, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::printf("this machine: %.4g GFLOP/s, %.4g GB/s (%s)\n", p->flops / 1e9, p->bandwidth / 1e9,
              p->method.c_str());
  EXPECT_EQ(p->source, "measured");
  EXPECT_GT(p->flops, 1e8);
  EXPECT_GT(p->bandwidth, 1e8);
}

}  // namespace
}  // namespace tandem::runtime
