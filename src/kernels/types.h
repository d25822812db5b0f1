// GGML tensor types as stored in GGUF files, with their block layouts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem::kernels {

// Values are the on-disk ggml_type ids; they must never change.
enum class WeightType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
};

struct WeightTypeTraits {
  std::string_view name;
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool dequant_supported;  // we can turn it into float32
};

// Traits of a known on-disk type id, or nullopt for an id we do not know.
std::optional<WeightTypeTraits> TraitsOf(uint32_t type_id);
WeightTypeTraits TraitsOf(WeightType type);
std::string_view WeightTypeName(WeightType type);
// Parses "F16", "q8_0", ... (case-insensitive).
std::optional<WeightType> ParseWeightType(std::string_view name);

// Bytes taken by one row of `n_elems` elements (n_elems must be a multiple of block_elems).
inline uint64_t RowBytes(WeightType type, uint64_t n_elems) {
  const WeightTypeTraits t = TraitsOf(type);
  return n_elems / t.block_elems * t.block_bytes;
}

// Block layouts, exactly as in GGUF.
inline constexpr int kQK8_0 = 32;  // Q8_0: fp16 scale d, int8 qs[32]; x = d * q
inline constexpr int kQK4_0 = 32;  // Q4_0: fp16 d, uint8 qs[16]; x = d * (nibble - 8)
inline constexpr int kQK_K = 256;  // K-quants super-block size
inline constexpr int kKScaleBytes = 12;

struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK8_0];
};
struct BlockQ4_0 {
  uint16_t d;              // fp16
  uint8_t qs[kQK4_0 / 2];  // low nibbles: elements 0..15, high nibbles: 16..31
};
struct BlockQ4_1 {
  uint16_t d;              // fp16 scale
  uint16_t m;              // fp16 minimum: x = d * nibble + m
  uint8_t qs[kQK4_0 / 2];  // as Q4_0
};
struct BlockQ5_0 {
  uint16_t d;              // fp16: x = d * (q - 16), q = nibble | bit 4 from qh
  uint8_t qh[4];           // bit j: the fifth bit of element j (little-endian 32 bits)
  uint8_t qs[kQK4_0 / 2];  // low nibbles: elements 0..15, high nibbles: 16..31
};
struct BlockQ5_1 {
  uint16_t d;  // fp16: x = d * q + m
  uint16_t m;  // fp16
  uint8_t qh[4];
  uint8_t qs[kQK4_0 / 2];
};
struct BlockQ4_K {
  uint16_t d;                    // fp16 super-block scale for the 8 sub-block scales
  uint16_t dmin;                 // fp16 super-block scale for the 8 sub-block mins
  uint8_t scales[kKScaleBytes];  // 8 scales and 8 mins, 6 bits each
  uint8_t qs[kQK_K / 2];         // 4-bit quants
};
struct BlockQ5_K {
  uint16_t d;  // as Q4_K, with a fifth bit per element from qh
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];  // bit 2g (2g + 1) of byte l: element 64 g + l (64 g + 32 + l)
  uint8_t qs[kQK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit scale per 16 elements
  uint16_t d;                 // fp16 super-block scale
};
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

}  // namespace tandem::kernels
