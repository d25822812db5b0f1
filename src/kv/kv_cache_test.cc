#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/ref/convert.h"
#include "kv/kv_codec.h"

namespace tandem::kv {
namespace {

const KvLayout kLayout{3, 10, 2, 4};  // 3 layers, 10 tokens, 2 KV heads of 4

std::vector<float> Rows(int64_t n, float base) {
  std::vector<float> r(n * kLayout.row_elems());
  for (size_t i = 0; i < r.size(); ++i) r[i] = base + 0.1234567f * static_cast<float>(i);
  return r;
}

TEST(KvCache, F16HoldsHalvesInHalfTheBytes) {
  auto f16 = KvCache::Create(kLayout, KvPrecision::kF16);
  auto f32 = KvCache::Create(kLayout, KvPrecision::kF32);
  ASSERT_TRUE(f16.ok() && f32.ok());
  EXPECT_EQ(f16->bytes(), 3u * 2 * 10 * 8 * 2);
  EXPECT_EQ(f32->bytes(), 2 * f16->bytes());
  const std::vector<float> k = Rows(4, 1.0f), v = Rows(4, -70000.0f);  // v overflows half
  f16->Write(1, 5, 4, k.data(), v.data());
  f32->Write(1, 5, 4, k.data(), v.data());
  std::vector<float> k16(k.size()), v16(v.size()), k32(k.size()), v32(v.size());
  f16->ReadK(1, 5, 9, k16.data());
  f16->ReadV(1, 5, 9, v16.data());
  f32->ReadK(1, 5, 9, k32.data());
  f32->ReadV(1, 5, 9, v32.data());
  EXPECT_EQ(k32, k);
  EXPECT_EQ(v32, v);
  int rounded = 0;
  for (size_t i = 0; i < k.size(); ++i) {
    EXPECT_EQ(k16[i], kernels::Fp16ToF32(kernels::F32ToFp16(k[i])));
    rounded += k16[i] != k[i];
  }
  EXPECT_GT(rounded, 0);  // the values were in fact stored as halves
  EXPECT_TRUE(std::isinf(v16[0]));
  // The raw storage is the half bits, and only the rows written changed.
  const auto* raw = static_cast<const uint16_t*>(f16->K(1));
  EXPECT_EQ(raw[5 * kLayout.row_elems()], kernels::F32ToFp16(k[0]));
  EXPECT_EQ(raw[5 * kLayout.row_elems() - 1], 0);
  EXPECT_EQ(raw[9 * kLayout.row_elems()], 0);
  EXPECT_EQ(static_cast<const uint16_t*>(f16->K(0))[5 * kLayout.row_elems()], 0);
}

// What KV streaming sends from an f16 cache and writes on arrival: the stored halves, which are
// the F16 codec's bytes of the rows read as float32.
TEST(KvCache, HalfBytesAreTheF16CodecsBytes) {
  auto src = KvCache::Create(kLayout, KvPrecision::kF16);
  auto dst = KvCache::Create(kLayout, KvPrecision::kF16);
  ASSERT_TRUE(src.ok() && dst.ok());
  const std::vector<float> k = Rows(4, 1.0f), v = Rows(4, -3.0f);
  src->Write(2, 3, 4, k.data(), v.data());
  std::vector<float> rows(k.size());
  std::vector<uint8_t> encoded(KvEncodedBytes(KvCodec::kF16, 4, 2, 4));
  src->ReadV(2, 3, 7, rows.data());
  KvEncode(KvCodec::kF16, rows, 2, 4, encoded);
  const auto hv = src->HalfBytesV(2, 3, 7);
  EXPECT_EQ(std::vector<uint8_t>(hv.begin(), hv.end()), encoded);
  src->ReadK(2, 3, 7, rows.data());
  KvEncode(KvCodec::kF16, rows, 2, 4, encoded);
  const auto hk = src->HalfBytesK(2, 3, 7);
  EXPECT_EQ(std::vector<uint8_t>(hk.begin(), hk.end()), encoded);
  // Written into another cache at another place, they read back as the same rows.
  dst->WriteHalfBytes(0, 5, 4, hk, hv);
  std::vector<float> a(k.size()), b(k.size());
  src->ReadK(2, 3, 7, a.data());
  dst->ReadK(0, 5, 9, b.data());
  EXPECT_EQ(a, b);
  src->ReadV(2, 3, 7, a.data());
  dst->ReadV(0, 5, 9, b.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(static_cast<const uint16_t*>(dst->V(0))[5 * kLayout.row_elems() - 1], 0);
  EXPECT_EQ(static_cast<const uint16_t*>(dst->V(0))[9 * kLayout.row_elems()], 0);
}

TEST(KvCache, RejectsEmptyAndHugeLayouts) {
  EXPECT_FALSE(KvCache::Create({0, 10, 2, 4}).ok());
  EXPECT_FALSE(KvCache::Create({3, 10, 2, 0}).ok());
  const auto huge = KvCache::Create({32, int64_t{1} << 40, 8, 128}, KvPrecision::kF16);
  EXPECT_EQ(huge.status().code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace tandem::kv
