// Scalar dequantization (the oracle for every weight type) and quantization (for the writer).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/status.h"
#include "kernels/types.h"

namespace tandem::kernels::ref {

// The weight types the model loader and the kernels accept.
inline constexpr std::string_view kSupportedWeightTypes =
    "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K";

// Turns `n` elements (a multiple of the type's block size) at `src` into float32.
[[nodiscard]] Status DequantizeRow(WeightType type, const uint8_t* src, float* dst, int64_t n);

// Encodes `n` floats as `type` (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) into
// RowBytes(type, n) bytes.
[[nodiscard]] Status QuantizeRow(WeightType type, const float* src, uint8_t* dst, int64_t n);

// Unpacks the j-th (0..7) 6-bit scale and min of a Q4_K/Q5_K super-block.
void KQuantScaleMin(int j, const uint8_t* scales, uint8_t* scale, uint8_t* min);

}  // namespace tandem::kernels::ref
