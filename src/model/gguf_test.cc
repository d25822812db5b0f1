#include "model/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "model/gguf_writer.h"

namespace tandem::model {
namespace {

using kernels::WeightType;

std::vector<uint8_t> SmallFile() {
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("u32", GgufValue::U32(7));
  w.Set("i32", GgufValue::I32(-3));
  w.Set("u64", GgufValue::U64(1ull << 40));
  w.Set("f32", GgufValue::F32(0.5f));
  w.Set("flag", GgufValue::Bool(true));
  w.Set("names", GgufValue::StringArray({"a", "bc", ""}));
  const float fs[3] = {1.5f, -2.0f, 3.25f};
  w.Set("floats", GgufValue::F32Array(fs));
  GgufValue u8;
  u8.type = GgufType::kUint8;
  u8.u = 200;
  w.Set("u8", u8);
  GgufValue f64;
  f64.type = GgufType::kFloat64;
  f64.f = 1e300;
  w.Set("f64", f64);
  GgufValue i16;
  i16.type = GgufType::kInt16;
  i16.i = -300;
  w.Set("i16", i16);
  std::vector<uint8_t> data(4 * 6);
  const float t[6] = {1, 2, 3, 4, 5, 6};
  std::memcpy(data.data(), t, sizeof(t));
  EXPECT_TRUE(w.AddTensor("t", {3, 2}, WeightType::kF32, data).ok());
  EXPECT_TRUE(w.AddTensor("h", {32}, WeightType::kF16, std::vector<uint8_t>(64, 0)).ok());
  auto bytes = w.WriteBytes();
  EXPECT_TRUE(bytes.ok());
  return *bytes;
}

TEST(Gguf, WriterAndReaderRoundTripEveryValueType) {
  const auto bytes = SmallFile();
  auto f = GgufFile::FromBytes("small.gguf", bytes);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  EXPECT_EQ(*(*f)->GetUint("u32"), 7u);
  EXPECT_EQ(*(*f)->GetInt("i32"), -3);
  EXPECT_EQ(*(*f)->GetUint("u64"), 1ull << 40);
  EXPECT_EQ(*(*f)->GetFloat("f32"), 0.5);
  EXPECT_EQ(*(*f)->GetBool("flag"), true);
  EXPECT_EQ(*(*f)->GetUint("u8"), 200u);
  EXPECT_EQ(*(*f)->GetFloat("f64"), 1e300);
  EXPECT_EQ(*(*f)->GetInt("i16"), -300);
  EXPECT_EQ(*(*f)->GetStringArray("names"), (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(*(*f)->GetFloatArray("floats"), (std::vector<float>{1.5f, -2.0f, 3.25f}));
  // Wrong type and missing keys are errors that name the key.
  EXPECT_EQ((*f)->GetUint("i32").status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE((*f)->GetString("u32").status().message().find("'u32'"), std::string::npos);
  EXPECT_EQ((*f)->GetString("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(*(*f)->GetUintOr("nope", 9), 9u);

  const GgufTensorInfo* t = (*f)->FindTensor("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(t->n_bytes, 24u);
  EXPECT_EQ((t->data - bytes.data()) % 32, 0);  // aligned within the file
  float v[6];
  std::memcpy(v, t->data, sizeof(v));
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ((*f)->FindTensor("h")->offset % 32, 0u);
}

// Offsets of header fields in a GGUF produced by SmallFile().
constexpr size_t kTensorCountOffset = 8;
constexpr size_t kKvCountOffset = 16;

StatusCode ParseCode(const std::vector<uint8_t>& bytes) {
  return GgufFile::FromBytes("bad.gguf", bytes).status().code();
}

std::string ParseMessage(const std::vector<uint8_t>& bytes) {
  return GgufFile::FromBytes("bad.gguf", bytes).status().message();
}

TEST(GgufBadInput, TruncatedAnywhereIsAnErrorNeverACrash) {
  const auto bytes = SmallFile();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    auto f = GgufFile::FromBytes("cut.gguf", cut);
    EXPECT_FALSE(f.ok()) << "cut at " << n;
  }
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 10);
  EXPECT_NE(ParseMessage(cut).find("truncated"), std::string::npos) << ParseMessage(cut);
  EXPECT_NE(ParseMessage(cut).find("tensor 'h'"), std::string::npos) << ParseMessage(cut);
}

TEST(GgufBadInput, WrongMagic) {
  auto bytes = SmallFile();
  bytes[0] = 'X';
  EXPECT_EQ(ParseCode(bytes), StatusCode::kInvalidArgument);
  EXPECT_NE(ParseMessage(bytes).find("not a GGUF"), std::string::npos);
}

TEST(GgufBadInput, UnsupportedVersion) {
  auto bytes = SmallFile();
  bytes[4] = 9;
  EXPECT_EQ(ParseCode(bytes), StatusCode::kUnimplemented);
}

TEST(GgufBadInput, AbsurdTensorCount) {
  auto bytes = SmallFile();
  const uint64_t n = 1ull << 60;
  std::memcpy(&bytes[kTensorCountOffset], &n, 8);
  EXPECT_EQ(ParseCode(bytes), StatusCode::kOutOfRange);
  EXPECT_NE(ParseMessage(bytes).find("tensor count"), std::string::npos);
}

TEST(GgufBadInput, AbsurdKeyCount) {
  auto bytes = SmallFile();
  const uint64_t n = 1ull << 60;
  std::memcpy(&bytes[kKvCountOffset], &n, 8);
  EXPECT_EQ(ParseCode(bytes), StatusCode::kOutOfRange);
}

TEST(GgufBadInput, AbsurdStringLength) {
  auto bytes = SmallFile();
  const uint64_t n = 1ull << 40;  // the first key's length
  std::memcpy(&bytes[24], &n, 8);
  EXPECT_EQ(ParseCode(bytes), StatusCode::kOutOfRange);
  EXPECT_NE(ParseMessage(bytes).find("string length"), std::string::npos);
}

// Finds the tensor info of "t" (name length 1, then 't') and returns the offset after the name.
size_t TensorInfoOffset(const std::vector<uint8_t>& bytes, char name) {
  for (size_t i = 0; i + 9 < bytes.size(); ++i) {
    uint64_t len;
    std::memcpy(&len, &bytes[i], 8);
    if (len == 1 && bytes[i + 8] == static_cast<uint8_t>(name)) {
      uint32_t dims;
      std::memcpy(&dims, &bytes[i + 9], 4);
      if (dims >= 1 && dims <= 4) return i + 9;
    }
  }
  return 0;
}

TEST(GgufBadInput, UnknownWeightType) {
  auto bytes = SmallFile();
  const size_t at = TensorInfoOffset(bytes, 't');
  ASSERT_NE(at, 0u);
  const uint32_t type = 999;
  std::memcpy(&bytes[at + 4 + 2 * 8], &type, 4);  // after n_dims and two dims
  EXPECT_EQ(ParseCode(bytes), StatusCode::kUnimplemented);
  EXPECT_NE(ParseMessage(bytes).find("unknown weight type 999"), std::string::npos);
}

TEST(GgufBadInput, TensorDataPastTheEnd) {
  auto bytes = SmallFile();
  const size_t at = TensorInfoOffset(bytes, 'h');
  ASSERT_NE(at, 0u);
  const uint64_t offset = 1ull << 30;
  std::memcpy(&bytes[at + 4 + 8 + 4], &offset, 8);  // after n_dims, one dim, type
  EXPECT_EQ(ParseCode(bytes), StatusCode::kDataLoss);
  EXPECT_NE(ParseMessage(bytes).find("past the end"), std::string::npos) << ParseMessage(bytes);
}

TEST(GgufBadInput, AbsurdDimension) {
  auto bytes = SmallFile();
  const size_t at = TensorInfoOffset(bytes, 't');
  const uint64_t dim = 1ull << 62;
  std::memcpy(&bytes[at + 4], &dim, 8);
  EXPECT_EQ(ParseCode(bytes), StatusCode::kOutOfRange);
}

TEST(GgufBadInput, DuplicateKey) {
  GgufWriter w;
  w.Set("a", GgufValue::U32(1));
  w.Set("b", GgufValue::U32(2));
  auto bytes = *w.WriteBytes();
  // Rename key "b" to "a".
  for (size_t i = 24; i < bytes.size(); ++i) {
    if (bytes[i] == 'b') {
      bytes[i] = 'a';
      break;
    }
  }
  EXPECT_EQ(ParseCode(bytes), StatusCode::kInvalidArgument);
  EXPECT_NE(ParseMessage(bytes).find("duplicate"), std::string::npos);
}

TEST(GgufBadInput, MissingFileAndEmptyFile) {
  auto f = GgufFile::Open("/nonexistent/model.gguf");
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("/nonexistent/model.gguf"), std::string::npos);
  const std::string empty = testing::TempDir() + "/empty.gguf";
  std::ofstream(empty).close();
  EXPECT_EQ(GgufFile::Open(empty).status().code(), StatusCode::kDataLoss);
}

TEST(Gguf, ReadsTheBundledModels) {
  for (const char* name : {"stories260K.gguf", "stories260K-F16.gguf", "stories260K-Q8_0.gguf",
                           "stories260K-Q4_0.gguf", "vocab/ggml-vocab-qwen2.gguf"}) {
    auto f = GgufFile::Open(std::string(TANDEM_TESTDATA_DIR) + "/" + name);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
  }
  auto f = GgufFile::Open(std::string(TANDEM_TESTDATA_DIR) + "/stories260K-Q8_0.gguf");
  EXPECT_EQ((*f)->tensors().size(), 48u);
  EXPECT_EQ((*f)->FindTensor("blk.0.attn_q.weight")->type, WeightType::kQ8_0);
  EXPECT_EQ((*f)->FindTensor("blk.0.ffn_down.weight")->type, WeightType::kF16);
}

}  // namespace
}  // namespace tandem::model
