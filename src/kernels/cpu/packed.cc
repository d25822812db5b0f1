#include "kernels/cpu/packed.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/ref/quant.h"
#include "kernels/types.h"

namespace tandem::kernels::cpu {
namespace {

template <class Block>
void PackPanel(const ref::MatRef& w, int64_t panel, uint8_t* out) {
  const int64_t nb = w.cols / 32;
  constexpr bool kQ8 = sizeof(Block) == sizeof(BlockQ8_0);
  constexpr bool kQ5 = sizeof(Block) == sizeof(BlockQ5_0);
  constexpr WeightType kType = kQ8   ? WeightType::kQ8_0
                               : kQ5 ? WeightType::kQ5_0
                                     : WeightType::kQ4_0;
  constexpr int kGroups = kQ8 ? 8 : 4;
  constexpr int kBlockBytes = QuantBytesPerBlock(kType);
  const uint64_t row_bytes = RowBytes(kType, w.cols);
  for (int lane = 0; lane < kPanelRows; ++lane) {
    const int64_t r = panel * kPanelRows + lane;
    if (r >= w.rows) break;  // the buffer is zeroed: padding rows have zero quants and scales
    const auto* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      std::memcpy(out + BlockScalesOffset(b, kBlockBytes) + lane * 2, &row[b].d, 2);
      uint8_t* qb = out + BlockQuantsOffset(b, kBlockBytes);
      for (int g = 0; g < kGroups; ++g) {
        uint8_t* dst = qb + g * 64 + lane * 4;
        for (int i = 0; i < 4; ++i) {
          if constexpr (kQ8) {
            dst[i] = static_cast<uint8_t>(row[b].qs[4 * g + i]) ^ 0x80;
          } else {
            dst[i] = row[b].qs[4 * g + i];
          }
        }
      }
      if constexpr (kQ5) {  // byte g: fifth bits of elements 4g + i (bits i), 16 + 4g + i (4 + i)
        uint32_t qh;
        std::memcpy(&qh, row[b].qh, sizeof(qh));
        for (int g = 0; g < 4; ++g) {
          qb[256 + lane * 4 + g] =
              static_cast<uint8_t>(((qh >> (4 * g)) & 15) | ((qh >> (16 + 4 * g)) & 15) << 4);
        }
      }
    }
  }
}

// Q4_K, and Q5_K (Block = BlockQ5_K, Layout = Q5KPanel) with its fifth bits ahead of the quants.
template <class Block, class Layout>
void PackPanelQ4_K(const ref::MatRef& w, int64_t panel, uint8_t* out) {
  constexpr bool kQ5 = sizeof(Block) == sizeof(BlockQ5_K);
  const int64_t nb = w.cols / kQK_K;
  const uint64_t row_bytes = RowBytes(w.type, w.cols);
  for (int lane = 0; lane < kPanelRows; ++lane) {
    const int64_t r = panel * kPanelRows + lane;
    if (r >= w.rows) break;  // zeroed padding rows
    const auto* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* sb = out + b * Layout::kBytes;
      for (int g = 0; g < 32; ++g)
        std::memcpy(sb + Layout::kQuants + g * 64 + lane * 4, row[b].qs + 4 * g, 4);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        ref::KQuantScaleMin(j, row[b].scales, &sc, &m);
        sb[Layout::kScales + j * kPanelRows + lane] = sc;
        sb[Layout::kMins + (j / 2) * 32 + lane * 2 + j % 2] = m;
      }
      std::memcpy(sb + Layout::kD + lane * 2, &row[b].d, 2);
      std::memcpy(sb + Layout::kDmin + lane * 2, &row[b].dmin, 2);
      if constexpr (kQ5) {
        for (int g = 0; g < 8; ++g) {
          std::memcpy(sb + Layout::kQh + g * 64 + lane * 4, row[b].qh + 4 * g, 4);
        }
      }
    }
  }
}

void PackPanelQ6_K(const ref::MatRef& w, int64_t panel, uint8_t* out) {
  const int64_t nb = w.cols / kQK_K;
  const uint64_t row_bytes = RowBytes(WeightType::kQ6_K, w.cols);
  for (int lane = 0; lane < kPanelRows; ++lane) {
    const int64_t r = panel * kPanelRows + lane;
    if (r >= w.rows) break;
    const auto* row = reinterpret_cast<const BlockQ6_K*>(w.data + r * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* sb = out + b * Q6KPanel::kBytes;
      for (int h = 0; h < 2; ++h) {
        for (int g = 0; g < 8; ++g) {
          uint8_t* dst = sb + Q6KPanel::kQuants + (h * 8 + g) * 192 + lane * 4;
          std::memcpy(dst, row[b].ql + 64 * h + 4 * g, 4);
          std::memcpy(dst + 64, row[b].ql + 64 * h + 32 + 4 * g, 4);
          std::memcpy(dst + 128, row[b].qh + 32 * h + 4 * g, 4);
        }
      }
      for (int s = 0; s < 16; ++s) {
        sb[Q6KPanel::kScales + s * kPanelRows + lane] = static_cast<uint8_t>(row[b].scales[s]);
      }
      std::memcpy(sb + Q6KPanel::kD + lane * 2, &row[b].d, 2);
    }
  }
}

// F16 and BF16: column pairs of 16 rows; the buffer is zeroed, so padding rows and an odd last
// column's partner stay zero.
void PackPanelPairs(const ref::MatRef& w, int64_t panel, uint8_t* out) {
  const uint64_t row_bytes = RowBytes(w.type, w.cols);
  for (int lane = 0; lane < kPanelRows; ++lane) {
    const int64_t r = panel * kPanelRows + lane;
    if (r >= w.rows) break;
    const uint8_t* row = w.data + r * row_bytes;
    for (int64_t j = 0; 2 * j < w.cols; ++j) {
      std::memcpy(out + j * 64 + lane * 4, row + 4 * j, 2 * j + 1 < w.cols ? 4 : 2);
    }
  }
}

bool IsPackable(WeightType type) {
  return type == WeightType::kQ8_0 || type == WeightType::kQ4_0 || type == WeightType::kQ5_0 ||
         type == WeightType::kQ4_K || type == WeightType::kQ5_K || type == WeightType::kQ6_K ||
         type == WeightType::kF16 || type == WeightType::kBF16;
}

}  // namespace

bool PacksWeights(WeightType type) {
  if (type == WeightType::kF16) return internal::HasAvx512();
  if (type == WeightType::kBF16) return internal::HasAvx512Bf16();
  return IsPackable(type) && internal::HasAvx512Vnni();
}

uint64_t PanelStride(WeightType type, int64_t cols) {
  if (type == WeightType::kQ4_K) return static_cast<uint64_t>(cols / kQK_K) * Q4KPanel::kBytes;
  if (type == WeightType::kQ5_K) return static_cast<uint64_t>(cols / kQK_K) * Q5KPanel::kBytes;
  if (type == WeightType::kQ6_K) return static_cast<uint64_t>(cols / kQK_K) * Q6KPanel::kBytes;
  if (type == WeightType::kF16 || type == WeightType::kBF16) {
    return static_cast<uint64_t>((cols + 1) / 2) * 64;
  }
  if (!IsPackable(type)) return 0;
  // Up to the end of the last block's quants (BlockQuantsOffset's multiples of 64).
  const int64_t nb = cols / 32;
  if (nb <= 0) return 0;
  return BlockQuantsOffset(nb - 1, QuantBytesPerBlock(type)) + QuantBytesPerBlock(type);
}

uint64_t PackedBytes(WeightType type, int64_t rows, int64_t cols) {
  const uint64_t panels = static_cast<uint64_t>((rows + kPanelRows - 1) / kPanelRows);
  return panels * PanelStride(type, cols);
}

Status PackWeights(const ref::MatRef& w, uint8_t* out, uint64_t out_bytes) {
  if (!IsPackable(w.type)) {
    return InvalidArgument("PackWeights: " + std::string(WeightTypeName(w.type)) +
                           " has no packed layout");
  }
  if (w.rows <= 0 || w.cols <= 0 || w.cols % TraitsOf(w.type).block_elems != 0) {
    return InvalidArgument("PackWeights: bad shape " + std::to_string(w.rows) + "x" +
                           std::to_string(w.cols));
  }
  if (out_bytes != PackedBytes(w.type, w.rows, w.cols) ||
      reinterpret_cast<uintptr_t>(out) % 64 != 0) {
    return InvalidArgument("PackWeights: output buffer has the wrong size or alignment");
  }
  std::memset(out, 0, out_bytes);
  const uint64_t stride = PanelStride(w.type, w.cols);
  const int64_t panels = (w.rows + kPanelRows - 1) / kPanelRows;
  for (int64_t p = 0; p < panels; ++p) {
    switch (w.type) {
      case WeightType::kQ8_0: PackPanel<BlockQ8_0>(w, p, out + p * stride); break;
      case WeightType::kQ4_0: PackPanel<BlockQ4_0>(w, p, out + p * stride); break;
      case WeightType::kQ5_0: PackPanel<BlockQ5_0>(w, p, out + p * stride); break;
      case WeightType::kQ4_K: PackPanelQ4_K<BlockQ4_K, Q4KPanel>(w, p, out + p * stride); break;
      case WeightType::kQ5_K: PackPanelQ4_K<BlockQ5_K, Q5KPanel>(w, p, out + p * stride); break;
      case WeightType::kQ6_K: PackPanelQ6_K(w, p, out + p * stride); break;
      default: PackPanelPairs(w, p, out + p * stride); break;
    }
  }
  return OkStatus();
}

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

StatusOr<AlignedBuffer> AlignedBuffer::Allocate(uint64_t bytes) {
  constexpr uint64_t kHuge = uint64_t{2} << 20;
  const uint64_t align = bytes >= kHuge ? kHuge : 64;
  const uint64_t size = (std::max<uint64_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (p == nullptr) {
    return Unavailable("out of memory: cannot allocate " + std::to_string(bytes) + " bytes");
  }
  if (align == kHuge) (void)::madvise(p, size, MADV_HUGEPAGE);  // advice only
  AlignedBuffer b;
  b.data_.reset(static_cast<uint8_t*>(p));
  b.size_ = bytes;
  return b;
}

}  // namespace tandem::kernels::cpu
