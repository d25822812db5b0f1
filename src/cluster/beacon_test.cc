#include "cluster/beacon.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

namespace tandem::cluster {
namespace {

constexpr std::string_view kKey = "cluster-key-aaaaaaaaaaaaaaaa";
constexpr std::string_view kOtherKey = "cluster-key-bbbbbbbbbbbbbbbb";

Beacon Sample() { return Beacon{0, 1234567, "node-a", 8080, 9090, 8766}; }

std::vector<uint8_t> Encoded(const Beacon& b = Sample(), std::string_view key = kKey) {
  auto bytes = EncodeBeacon(b, key);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

TEST(Beacon, RoundTrips) {
  Beacon b = Sample();
  b.flags = kBeaconWantsReply;
  b.node_id = std::string(kMaxNodeIdBytes, 'x');
  const auto bytes = Encoded(b);
  EXPECT_EQ(bytes.size(), kMaxBeaconBytes);
  auto got = DecodeBeacon(bytes, kKey);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->flags, b.flags);
  EXPECT_EQ(got->sequence, b.sequence);
  EXPECT_EQ(got->node_id, b.node_id);
  EXPECT_EQ(got->http_port, 8080);
  EXPECT_EQ(got->data_port, 9090);
  EXPECT_EQ(got->discovery_port, 8766);
}

TEST(Beacon, ClusterIdDependsOnTheKeyOnly) {
  EXPECT_EQ(ClusterIdHash(kKey), ClusterIdHash(kKey));
  EXPECT_NE(ClusterIdHash(kKey), ClusterIdHash(kOtherKey));
  // The key itself never appears in a beacon.
  const auto bytes = Encoded();
  const std::string text(bytes.begin(), bytes.end());
  EXPECT_EQ(text.find(kKey), std::string::npos);
}

TEST(Beacon, EncodeRejectsBadFields) {
  Beacon b = Sample();
  b.node_id = "";
  EXPECT_EQ(EncodeBeacon(b, kKey).status().code(), StatusCode::kInvalidArgument);
  b.node_id = std::string(kMaxNodeIdBytes + 1, 'x');
  EXPECT_EQ(EncodeBeacon(b, kKey).status().code(), StatusCode::kOutOfRange);
  b = Sample();
  b.flags = 0x80;
  EXPECT_EQ(EncodeBeacon(b, kKey).status().code(), StatusCode::kInvalidArgument);
}

void PutU16(std::vector<uint8_t>& b, size_t at, uint16_t v) { std::memcpy(&b[at], &v, 2); }
void PutU32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(&b[at], &v, 4); }

struct RejectCase {
  const char* name;
  std::function<void(std::vector<uint8_t>&)> mutate;
  std::string_view key;
  StatusCode code;
  const char* message_has;
};

TEST(Beacon, DecodeRejects) {
  constexpr size_t kIdLenAt = kBeaconFixedBytes - 4;
  const std::vector<RejectCase> cases = {
      {"wrong magic", [](auto& b) { PutU32(b, 0, 0x31424455); }, kKey, StatusCode::kInvalidArgument,
       "magic"},
      {"other version", [](auto& b) { PutU16(b, 4, kBeaconVersion + 1); }, kKey,
       StatusCode::kUnimplemented, "version"},
      {"unknown flag", [](auto& b) { b[6] = 0x40; }, kKey, StatusCode::kInvalidArgument, "flags"},
      {"reserved byte", [](auto& b) { b[7] = 1; }, kKey, StatusCode::kInvalidArgument, "reserved"},
      {"other cluster", [](auto&) {}, kOtherKey, StatusCode::kNotFound, "another cluster"},
      {"forged sequence", [](auto& b) { b[16] ^= 1; }, kKey, StatusCode::kInvalidArgument, "proof"},
      {"forged port", [](auto& b) { b[24] ^= 1; }, kKey, StatusCode::kInvalidArgument, "proof"},
      {"forged id", [](auto& b) { b[kBeaconFixedBytes] ^= 1; }, kKey, StatusCode::kInvalidArgument,
       "proof"},
      {"bad proof", [](auto& b) { b.back() ^= 1; }, kKey, StatusCode::kInvalidArgument, "proof"},
      {"empty", [](auto& b) { b.clear(); }, kKey, StatusCode::kDataLoss, "truncated"},
      {"header only", [](auto& b) { b.resize(kBeaconFixedBytes); }, kKey, StatusCode::kDataLoss,
       "truncated"},
      {"one byte short", [](auto& b) { b.pop_back(); }, kKey, StatusCode::kDataLoss, "more bytes"},
      {"one byte long", [](auto& b) { b.push_back(0); }, kKey, StatusCode::kDataLoss, "trailing"},
      {"oversized", [](auto& b) { b.resize(kMaxBeaconBytes + 1); }, kKey, StatusCode::kOutOfRange,
       "limit"},
      {"huge id length", [](auto& b) { PutU32(b, kIdLenAt, 0xffffffff); }, kKey,
       StatusCode::kOutOfRange, "limit"},
      {"id length past end", [](auto& b) { PutU32(b, kIdLenAt, 100); }, kKey, StatusCode::kDataLoss,
       "more bytes"},
      {"empty id",
       [](auto& b) {
         PutU32(b, kIdLenAt, 0);
         b.erase(b.begin() + kBeaconFixedBytes, b.begin() + kBeaconFixedBytes + 6);
       },
       kKey, StatusCode::kInvalidArgument, "empty node id"},
  };
  for (const RejectCase& c : cases) {
    auto bytes = Encoded();
    c.mutate(bytes);
    auto got = DecodeBeacon(bytes, c.key);
    ASSERT_FALSE(got.ok()) << c.name;
    EXPECT_EQ(got.status().code(), c.code) << c.name << ": " << got.status().ToString();
    EXPECT_NE(got.status().message().find(c.message_has), std::string::npos)
        << c.name << ": " << got.status().ToString();
  }
}

// Random byte flips and truncations: Decode never crashes, and nothing but the original bytes
// verifies.
TEST(Beacon, MutatedBeaconsNeverCrashNorVerify) {
  std::mt19937 rng(1);
  Beacon b = Sample();
  const std::vector<std::vector<uint8_t>> seeds = {
      Encoded(b), Encoded(Beacon{kBeaconWantsReply, 1, std::string(kMaxNodeIdBytes, 'z'), 1, 2, 3}),
      Encoded(Beacon{0, ~uint64_t{0}, "n", 0, 0, 0})};
  int decoded = 0;
  for (int i = 0; i < 30000; ++i) {
    const auto& seed = seeds[i % seeds.size()];
    auto m = seed;
    const int flips = 1 + rng() % 4;
    for (int f = 0; f < flips && !m.empty(); ++f) m[rng() % m.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) m.resize(rng() % (m.size() + 1));
    if (rng() % 8 == 0) m.resize(m.size() + rng() % 64, static_cast<uint8_t>(rng()));
    auto got = DecodeBeacon(m, kKey);
    if (got.ok()) {
      ++decoded;
      EXPECT_EQ(m, seed) << "a mutated beacon verified";
    }
  }
  EXPECT_GT(decoded, 0);  // flips that rewrite a byte with its own value leave it intact
}

}  // namespace
}  // namespace tandem::cluster
