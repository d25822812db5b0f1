// GGUF v3 writer: metadata, tensor infos, then tensor data produced one tensor at a time (so a
// multi-gigabyte model is written without holding it in memory).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/gguf.h"

namespace tandem::model {

class GgufWriter {
 public:
  // Fills `out` (exactly the tensor's bytes) with the tensor's data.
  using FillFn = std::function<Status(std::span<uint8_t> out)>;

  void Set(std::string key, GgufValue value);
  // Copies every metadata key of `src` whose name starts with `prefix`.
  void CopyMetadata(const GgufFile& src, std::string_view prefix);
  // shape in ggml order (shape[0] contiguous).
  Status AddTensor(std::string name, std::vector<uint64_t> shape, kernels::WeightType type,
                   FillFn fill);
  Status AddTensor(std::string name, std::vector<uint64_t> shape, kernels::WeightType type,
                   std::vector<uint8_t> bytes);

  // Writes to `path` (through a temporary file renamed at the end, so a failure leaves no
  // half-written model).
  Status WriteFile(const std::string& path) const;
  // Serialises to memory (tests, fuzz seeds).
  StatusOr<std::vector<uint8_t>> WriteBytes() const;

  uint32_t alignment = kGgufDefaultAlignment;

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> shape;
    kernels::WeightType type;
    uint64_t n_bytes;
    FillFn fill;
  };
  // Writes everything through `sink`.
  Status Write(const std::function<Status(std::span<const uint8_t>)>& sink) const;

  std::vector<GgufKv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace tandem::model
