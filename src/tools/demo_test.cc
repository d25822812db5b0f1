// The emulated pair of `tandem demo` meets the acceptance bounds of the disaggregation design:
// the streamed pair is at most 1.1 x (prefill node's prefill + decode node's generation), at
// least 1.5 x faster than the faster single node, exposes at most 1.2 x one layer's transfer, and
// after-prefill costs about the whole transfer more.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "base/sanitizers.h"

namespace tandem::tools {
namespace {

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(DemoEmulatedPair, StreamingHidesTheTransferAndBeatsBothNodes) {
  if (base::kSanitized) {
    GTEST_SKIP() << "timing bounds need an optimised build (sanitizers slow the host below the "
                    "emulated devices)";
  }
  const std::string out = RunCapture(std::string(TANDEM_BINARY) + " demo --json 2>/dev/null");
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  const auto& rows = j["rows"];
  ASSERT_EQ(rows.size(), 4u);
  const auto& alone_p = rows[0];
  const auto& alone_d = rows[1];
  const auto& after = rows[2];
  const auto& streamed = rows[3];
  for (const auto& r : rows) EXPECT_EQ(r["fallback_reason"], "") << r["name"];
  EXPECT_TRUE(j["tokens_identical"].get<bool>());
  const double bound = alone_p["prefill_s"].get<double>() + alone_d["generation_s"].get<double>();
  EXPECT_LE(streamed["total_s"].get<double>(), 1.1 * bound);
  const double fastest =
      std::min(alone_p["total_s"].get<double>(), alone_d["total_s"].get<double>());
  EXPECT_GE(fastest / streamed["total_s"].get<double>(), 1.5);
  // One layer's transfer: the stream's bytes over its layers, at the measured link rate.
  const double layer_transfer = streamed["transfer_s"].get<double>() / streamed["frames"].size();
  EXPECT_LE(streamed["exposed_tail_s"].get<double>(), 1.2 * layer_transfer);
  const double extra = after["total_s"].get<double>() - streamed["total_s"].get<double>();
  const double whole = after["transfer_s"].get<double>();
  EXPECT_GT(extra, 0.5 * whole);
  EXPECT_LT(extra, 1.3 * whole);
  std::printf("%s\n", out.c_str());
}

}  // namespace
}  // namespace tandem::tools
