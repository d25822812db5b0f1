// Weights repacked at load for this CPU's int8 kernels.
//
// Q8_0 and Q4_0 rows are stored in GGUF one row after another, 32-element blocks each with its own
// scale. A dot product over a row then ends in a horizontal sum per row and token, and every
// block's scale is applied per row. Packed, 16 rows form a panel: for each block the 16 rows' first
// 4 bytes, then their next 4, ... (one 64-byte vector per step, one row per 32-bit lane), so that
// one vpdpbusd advances 16 rows at once against 4 bytes of one token broadcast to every lane,
// and the 16 rows' scales are one vector. Results land in lanes = rows: no horizontal sums.
//
// Panel p (rows 16p .. 16p+15, zero-padded past the last row), `PanelStride` bytes, 64-aligned, is
// a run of chunks of kChunkBlocks blocks (the last may hold fewer), each one's scales first, so
// that decode reads a panel front to back as one stream (the hardware prefetchers follow one
// stream per core far better than a second one through a separate scales region):
//   chunk   scales  [8 blocks][16 rows] fp16 (256 bytes, also in a short last chunk)
//           quants  [blocks][group][16 rows][4 bytes]   nb = cols / 32 blocks in all
//           Q8_0: 8 groups of 4 elements, each byte q + 128 (unsigned, for vpdpbusd)
//           Q4_0: 4 groups; byte i of a group is the GGUF byte 4g + i: its low nibble is element
//                 4g + i, its high nibble element 16 + 4g + i (unsigned 0..15 = q + 8)
//           Q5_0: as Q4_0, then [16 rows][4 bytes]: byte g holds the fifth bits of elements
//                 4g + i (bit i) and 16 + 4g + i (bit 4 + i) (unsigned 0..31 = q + 16)
// The +128 / +8 / +16 offsets are taken back on the activation side: sum (q_w + k) q_x = dot + k Σ
// q_x, and k Σ q_x is one number per token and block.
//
// Q4_K and Q6_K keep their 256-element super-blocks, each one's panel data contiguous; the
// sub-block scales stay integers (the kernels apply them to int32 sums, llama.cpp-style, against
// activations quantized per 256 with one scale):
// The scales come first, so that a super-block is read front to back:
//   Q4_K, 2368 bytes per super-block:
//     scales [8 sub-blocks][16 rows] u8;  mins [4 pairs][16 rows][2] u8 (sub-blocks 2k, 2k+1)
//     d [16 rows] fp16;  dmin [16 rows] fp16
//     quants [4 chunks][8 groups][16 rows][4 bytes]  byte i = GGUF qs[32 chunk + 4 group + i]:
//              low nibble element 64 chunk + 4 group + i, high nibble the same + 32
//   Q6_K, 3392 bytes per super-block:
//     scales [16 sub-blocks][16 rows] i8;  d [16 rows] fp16;  32 bytes padding
//     quants [2 halves][8 groups][3][16 rows][4 bytes]: GGUF ql[64 h + 4 g + i],
//              ql[64 h + 32 + 4 g + i] and qh[32 h + 4 g + i] (the ql/qh bytes of 4 elements each)
//
// F16 and BF16 keep their values and take the same 16-row panels, a column pair per 64 bytes:
//   [ceil(cols / 2) pairs][16 rows][2] fp16: row r's elements 2j and 2j + 1 side by side (a zero
//   after an odd last column). Decode then reads one stream per core, as for the int8 layouts;
//   widened, the low 32 bytes are rows 0-7 and the high 32 rows 8-15, each lane pair times one
//   token's (x[2j], x[2j + 1]); and the bf16 prefill kernels' operand, a row's pair per 32-bit
//   lane, is one conversion of the same 64 bytes (BF16: the 64 bytes themselves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/status.h"
#include "kernels/ref/ops.h"

namespace tandem::kernels::cpu {

inline constexpr int kPanelRows = 16;

// The rows of panel p of a tile of n_panels that a kernel stores, as a 16-bit lane mask: all 16,
// or the first last_rows of the tile's last panel (the matrix's last, partial panel).
constexpr uint16_t PanelRowMask(int p, int n_panels, int last_rows) {
  return p == n_panels - 1 && last_rows < kPanelRows ? static_cast<uint16_t>((1u << last_rows) - 1)
                                                     : uint16_t{0xffff};
}

// Where block b of a Q8_0/Q4_0/Q5_0 panel lies (the layout above), for `block_bytes` quant bytes
// per block and panel (QuantBytesPerBlock).
inline constexpr int kChunkBlocks = 8;
inline constexpr int kChunkScaleBytes = kChunkBlocks * kPanelRows * 2;
constexpr uint64_t ChunkBytes(int block_bytes) {
  return kChunkScaleBytes + uint64_t{kChunkBlocks} * block_bytes;
}
constexpr uint64_t BlockScalesOffset(int64_t b, int block_bytes) {
  return static_cast<uint64_t>(b / kChunkBlocks) * ChunkBytes(block_bytes) +
         static_cast<uint64_t>(b % kChunkBlocks) * kPanelRows * 2;
}
constexpr uint64_t BlockQuantsOffset(int64_t b, int block_bytes) {
  return static_cast<uint64_t>(b / kChunkBlocks) * ChunkBytes(block_bytes) + kChunkScaleBytes +
         static_cast<uint64_t>(b % kChunkBlocks) * block_bytes;
}
// Quant bytes of one block of one panel: 512 (Q8_0), 256 (Q4_0), 320 (Q5_0: the Q4_0 nibbles,
// then 4 bytes of fifth bits per row).
constexpr int QuantBytesPerBlock(WeightType type) {
  return type == WeightType::kQ8_0   ? kPanelRows * 32
         : type == WeightType::kQ5_0 ? kPanelRows * 20
                                     : kPanelRows * 16;
}
// Byte offsets inside one super-block of a K-quant panel (the layouts above).
struct Q4KPanel {
  static constexpr int kScales = 0, kMins = 128, kD = 256, kDmin = 288, kQuants = 320;
  static constexpr int kBytes = kQuants + 2048;
};
// Q4_K's header, then the fifth bits ([8 groups][16 rows][4 bytes] = GGUF qh[4g + i], read with
// the first chunk of quants), then Q4_K's quants.
struct Q5KPanel {
  static constexpr int kScales = 0, kMins = 128, kD = 256, kDmin = 288, kQh = 320;
  static constexpr int kQuants = kQh + 512, kBytes = kQuants + 2048;
};
struct Q6KPanel {
  static constexpr int kScales = 0, kD = 256, kQuants = 320, kBytes = kQuants + 3072;
};

// Whether this CPU's kernels use packed weights of `type` (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K
// with AVX-512 VNNI; F16 with AVX-512; BF16 with AVX-512 BF16).
bool PacksWeights(WeightType type);

// Bytes of one panel of a `cols`-column matrix of `type` (a multiple of 64), and of the whole
// packed matrix. 0 where `type` is not packed.
uint64_t PanelStride(WeightType type, int64_t cols);
uint64_t PackedBytes(WeightType type, int64_t rows, int64_t cols);

// Writes w (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, F16 or BF16; whole blocks per row) in the packed
// layout into out, which must be 64-byte aligned and PackedBytes long.
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
