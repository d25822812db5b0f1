#include "planner/dtypes.h"

#include <cctype>
#include <string>

namespace tandem::planner {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view WeightDtypeName(WeightDtype dtype) {
  switch (dtype) {
    case WeightDtype::kF32: return "f32";
    case WeightDtype::kF16: return "f16";
    case WeightDtype::kBF16: return "bf16";
    case WeightDtype::kQ8_0: return "q8_0";
    case WeightDtype::kQ4_0: return "q4_0";
  }
  return "?";
}

std::optional<WeightDtype> ParseWeightDtype(std::string_view name) {
  const std::string n = Lower(name);
  for (int i = 0; i < kNumWeightDtypes; ++i) {
    const auto d = static_cast<WeightDtype>(i);
    if (n == WeightDtypeName(d)) return d;
  }
  return std::nullopt;
}

double BytesPerWeight(WeightDtype dtype) {
  switch (dtype) {
    case WeightDtype::kF32: return 4.0;
    case WeightDtype::kF16: return 2.0;
    case WeightDtype::kBF16: return 2.0;
    case WeightDtype::kQ8_0: return 34.0 / 32.0;
    case WeightDtype::kQ4_0: return 18.0 / 32.0;
  }
  return 0.0;
}

std::string_view KvCodecName(KvCodec codec) {
  switch (codec) {
    case KvCodec::kF16: return "F16";
    case KvCodec::kQ8: return "Q8";
  }
  return "?";
}

std::optional<KvCodec> ParseKvCodec(std::string_view name) {
  const std::string n = Lower(name);
  if (n == "f16") return KvCodec::kF16;
  if (n == "q8") return KvCodec::kQ8;
  return std::nullopt;
}

int64_t KvHeadRowBytes(KvCodec codec, int head_dim) {
  switch (codec) {
    case KvCodec::kF16: return 2LL * head_dim;
    case KvCodec::kQ8: return head_dim + 2LL;  // int8 values + one fp16 scale
  }
  return 0;
}

double KvBytesPerElement(KvCodec codec, int head_dim) {
  return static_cast<double>(KvHeadRowBytes(codec, head_dim)) / head_dim;
}

bool KvCodecIsLossless(KvCodec codec) {
  switch (codec) {
    case KvCodec::kF16: return true;
    case KvCodec::kQ8: return false;
  }
  return false;
}

}  // namespace tandem::planner
