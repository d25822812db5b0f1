// Weights repacked at load for this CPU's int8 kernels.
//
// Q8_0 and Q4_0 rows are stored in GGUF one row after another, 32-element blocks each with its own
// scale. A dot product over a row then ends in a horizontal sum per row and token, and every
// block's scale is applied per row. Packed, 16 rows form a panel: for each block the 16 rows' first
// 4 bytes, then their next 4, ... (one 64-byte vector per step, one row per 32-bit lane), so that
// one vpdpbusd advances 16 rows at once against 4 bytes of one token broadcast to every lane,
// and the 16 rows' scales are one vector. Results land in lanes = rows: no horizontal sums.
//
// Panel p (rows 16p .. 16p+15, zero-padded past the last row), `PanelStride` bytes, 64-aligned:
//   quants  [nb][group][16 rows][4 bytes]   nb = cols / 32 blocks
//           Q8_0: 8 groups of 4 elements, each byte q + 128 (unsigned, for vpdpbusd)
//           Q4_0: 4 groups; byte i of a group is the GGUF byte 4g + i: its low nibble is element
//                 4g + i, its high nibble element 16 + 4g + i (unsigned 0..15 = q + 8)
//   scales  [nb][16 rows] fp16, after all the quants
// The +128 / +8 offsets are taken back on the activation side: sum (q_w + k) q_x = dot + k Σ q_x,
// and k Σ q_x is one number per token and block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/status.h"
#include "kernels/ref/ops.h"

namespace tandem::kernels::cpu {

inline constexpr int kPanelRows = 16;

// Whether this CPU's kernels use packed weights of `type` (Q8_0 and Q4_0 with AVX-512 VNNI).
bool PacksWeights(WeightType type);

// Bytes of one panel of a `cols`-column matrix of `type` (a multiple of 64), and of the whole
// packed matrix. 0 where `type` is not packed.
uint64_t PanelStride(WeightType type, int64_t cols);
uint64_t PackedBytes(WeightType type, int64_t rows, int64_t cols);

// Writes w (Q8_0 or Q4_0, cols % 32 == 0) in the packed layout into out, which must be 64-byte
// aligned and PackedBytes long.
[[nodiscard]] Status PackWeights(const ref::MatRef& w, uint8_t* out, uint64_t out_bytes);

// An owned, uninitialised, 64-byte aligned buffer; 2 MiB aligned with transparent huge pages
// advised when large (weights are streamed once per token: fewer TLB misses).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  static StatusOr<AlignedBuffer> Allocate(uint64_t bytes);
  uint8_t* data() const { return data_.get(); }
  uint64_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  uint64_t size_ = 0;
};

}  // namespace tandem::kernels::cpu
