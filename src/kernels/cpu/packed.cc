#include "kernels/cpu/packed.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/types.h"

namespace tandem::kernels::cpu {
namespace {

// Quant bytes of one block of one panel.
int64_t QuantBytesPerBlock(WeightType type) {
  return type == WeightType::kQ8_0 ? kPanelRows * 32 : kPanelRows * 16;
}

template <class Block>
void PackPanel(const ref::MatRef& w, int64_t panel, uint8_t* out) {
  const int64_t nb = w.cols / 32;
  constexpr bool kQ8 = sizeof(Block) == sizeof(BlockQ8_0);
  constexpr int kGroups = kQ8 ? 8 : 4;
  const uint64_t row_bytes = RowBytes(kQ8 ? WeightType::kQ8_0 : WeightType::kQ4_0, w.cols);
  uint8_t* quants = out;
  auto* scales = reinterpret_cast<uint16_t*>(out + nb * kGroups * 64);
  for (int lane = 0; lane < kPanelRows; ++lane) {
    const int64_t r = panel * kPanelRows + lane;
    if (r >= w.rows) break;  // the buffer is zeroed: padding rows have zero quants and scales
    const auto* row = reinterpret_cast<const Block*>(w.data + r * row_bytes);
    for (int64_t b = 0; b < nb; ++b) {
      scales[b * kPanelRows + lane] = row[b].d;
      for (int g = 0; g < kGroups; ++g) {
        uint8_t* dst = quants + (b * kGroups + g) * 64 + lane * 4;
        for (int i = 0; i < 4; ++i) {
          if constexpr (kQ8) {
            dst[i] = static_cast<uint8_t>(row[b].qs[4 * g + i]) ^ 0x80;
          } else {
            dst[i] = row[b].qs[4 * g + i];
          }
        }
      }
    }
  }
}

}  // namespace

bool PacksWeights(WeightType type) {
  return (type == WeightType::kQ8_0 || type == WeightType::kQ4_0) && internal::HasAvx512Vnni();
}

uint64_t PanelStride(WeightType type, int64_t cols) {
  if (type != WeightType::kQ8_0 && type != WeightType::kQ4_0) return 0;
  const uint64_t nb = static_cast<uint64_t>(cols / 32);
  const uint64_t bytes = nb * (QuantBytesPerBlock(type) + kPanelRows * 2);
  return (bytes + 63) & ~uint64_t{63};
}

uint64_t PackedBytes(WeightType type, int64_t rows, int64_t cols) {
  const uint64_t panels = static_cast<uint64_t>((rows + kPanelRows - 1) / kPanelRows);
  return panels * PanelStride(type, cols);
}

Status PackWeights(const ref::MatRef& w, uint8_t* out, uint64_t out_bytes) {
  if (w.type != WeightType::kQ8_0 && w.type != WeightType::kQ4_0) {
    return InvalidArgument("PackWeights: " + std::string(WeightTypeName(w.type)) +
                           " has no packed layout");
  }
  if (w.rows <= 0 || w.cols <= 0 || w.cols % 32 != 0) {
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
    if (w.type == WeightType::kQ8_0) {
      PackPanel<BlockQ8_0>(w, p, out + p * stride);
    } else {
      PackPanel<BlockQ4_0>(w, p, out + p * stride);
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
