// GGUF (v2, v3) reader over a memory map, with every count, length and offset bounded before
// use. Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kernels/types.h"

namespace tandem::model {

// On-disk metadata value types.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view GgufTypeName(GgufType type);

// Limits checked before anything is allocated.
inline constexpr uint64_t kGgufMaxTensors = 1u << 20;
inline constexpr uint64_t kGgufMaxKeys = 1u << 20;
inline constexpr uint64_t kGgufMaxStringBytes = 64u << 20;
inline constexpr uint64_t kGgufMaxArrayElems = 1u << 28;
inline constexpr uint32_t kGgufMaxDims = 4;
inline constexpr uint32_t kGgufDefaultAlignment = 32;

// One metadata value. Scalars live in the numeric fields; arrays of numbers keep their raw
// little-endian bytes; arrays of strings keep the strings. Nested arrays are not supported.
struct GgufValue {
  GgufType type = GgufType::kUint32;
  uint64_t u = 0;   // unsigned integers and bool
  int64_t i = 0;    // signed integers
  double f = 0.0;   // floats
  std::string str;  // kString
  // kArray:
  GgufType elem_type = GgufType::kUint8;
  uint64_t n_elems = 0;
  std::vector<uint8_t> raw;          // numeric arrays, packed
  std::vector<std::string> strings;  // string arrays

  static GgufValue U32(uint32_t v);
  static GgufValue I32(int32_t v);
  static GgufValue U64(uint64_t v);
  static GgufValue F32(float v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue StringArray(std::vector<std::string> v);
  static GgufValue F32Array(std::span<const float> v);
  static GgufValue I32Array(std::span<const int32_t> v);

  bool is_integer() const;
  bool is_float() const;
  // Human-readable, arrays shortened: for `tandem info`.
  std::string ToDisplayString() const;
};

struct GgufKv {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> shape;  // ggml order: shape[0] is the contiguous (row) dimension
  kernels::WeightType type = kernels::WeightType::kF32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping

  uint64_t n_elements() const;
  std::string ShapeString() const;  // "[64, 512]"
};

class GgufFile {
 public:
  // Maps and parses `path`. Errors name the file and the likely cause.
  static StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses bytes that the caller keeps alive (fuzzing, tests). `name` is used in errors.
  static StatusOr<std::unique_ptr<GgufFile>> FromBytes(std::string name,
                                                       std::span<const uint8_t> bytes);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t file_bytes() const { return bytes_.size(); }
  uint64_t data_offset() const { return data_offset_; }
  // Tells the kernel that [p, p + n) of the mapping will not be read soon (its pages leave this
  // process's resident memory; a later read maps them in again from the file). No-op for
  // FromBytes files and for bytes outside the mapping.
  void DropPages(const uint8_t* p, uint64_t n) const;

  const std::vector<GgufKv>& metadata() const { return kvs_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufValue* Find(std::string_view key) const;
  const GgufTensorInfo* FindTensor(std::string_view name) const;

  // Typed getters; errors name the file and key. Integer getters accept any integer type whose
  // value fits; float getters accept float or integer values.
  StatusOr<std::string> GetString(std::string_view key) const;
  StatusOr<uint64_t> GetUint(std::string_view key) const;
  StatusOr<int64_t> GetInt(std::string_view key) const;
  StatusOr<double> GetFloat(std::string_view key) const;
  StatusOr<bool> GetBool(std::string_view key) const;
  StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  StatusOr<std::vector<float>> GetFloatArray(std::string_view key) const;
  StatusOr<std::vector<int32_t>> GetInt32Array(std::string_view key) const;
  // Optional variants: the default when the key is absent, an error when it has a wrong type.
  StatusOr<std::string> GetStringOr(std::string_view key, std::string def) const;
  StatusOr<uint64_t> GetUintOr(std::string_view key, uint64_t def) const;
  StatusOr<double> GetFloatOr(std::string_view key, double def) const;
  StatusOr<bool> GetBoolOr(std::string_view key, bool def) const;

 private:
  GgufFile() = default;
  Status Parse();

  std::string path_;
  std::span<const uint8_t> bytes_;
  void* map_ = nullptr;  // owned mapping (Open) or null (FromBytes)
  size_t map_bytes_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace tandem::model
