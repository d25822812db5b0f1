#include "model/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_set>

namespace tandem::model {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian

std::string HumanBytes(uint64_t n) {
  char buf[64];
  if (n >= (1ull << 30)) {
    snprintf(buf, sizeof(buf), "%.2f GiB", n / double(1ull << 30));
  } else if (n >= (1ull << 20)) {
    snprintf(buf, sizeof(buf), "%.2f MiB", n / double(1ull << 20));
  } else {
    snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(n));
  }
  return buf;
}

// A bounded little-endian cursor over the file. Every read checks the remaining length first.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  Status Read(T* out, std::string_view what) {
    if (remaining() < sizeof(T)) return Truncated(what, sizeof(T));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return OkStatus();
  }

  Status ReadString(std::string* out, std::string_view what) {
    uint64_t n = 0;
    RETURN_IF_ERROR(Read(&n, what));
    if (n > kGgufMaxStringBytes) {
      return OutOfRange(std::string(what) + ": string length " + std::to_string(n) +
                        " exceeds the limit of " + HumanBytes(kGgufMaxStringBytes) +
                        " (corrupt file?)");
    }
    if (remaining() < n) return Truncated(what, n);
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return OkStatus();
  }

  Status ReadBytes(std::vector<uint8_t>* out, uint64_t n, std::string_view what) {
    if (remaining() < n) return Truncated(what, n);
    out->assign(bytes_.data() + pos_, bytes_.data() + pos_ + n);
    pos_ += n;
    return OkStatus();
  }

  Status Truncated(std::string_view what, uint64_t need) const {
    return DataLoss(std::string(what) + " at offset " + std::to_string(pos_) + " needs " +
                    std::to_string(need) + " bytes but the file ends after " +
                    std::to_string(remaining()) + " (truncated download?)");
  }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Size of a scalar metadata type, or 0 for string/array/unknown.
size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

bool KnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

Status ReadScalar(Cursor& c, GgufType type, GgufValue* v, std::string_view what) {
  v->type = type;
  switch (type) {
    case GgufType::kUint8: {
      uint8_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->u = x;
      break;
    }
    case GgufType::kInt8: {
      int8_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufType::kUint16: {
      uint16_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->u = x;
      break;
    }
    case GgufType::kInt16: {
      int16_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufType::kUint32: {
      uint32_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->u = x;
      break;
    }
    case GgufType::kInt32: {
      int32_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufType::kUint64: {
      uint64_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->u = x;
      break;
    }
    case GgufType::kInt64: {
      int64_t x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->i = x;
      break;
    }
    case GgufType::kFloat32: {
      float x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->f = x;
      break;
    }
    case GgufType::kFloat64: {
      double x{};
      RETURN_IF_ERROR(c.Read(&x, what));
      v->f = x;
      break;
    }
    case GgufType::kBool: {
      uint8_t x;
      RETURN_IF_ERROR(c.Read(&x, what));
      if (x > 1) return DataLoss(std::string(what) + ": bool value " + std::to_string(x));
      v->u = x;
      break;
    }
    case GgufType::kString: return c.ReadString(&v->str, what);
    case GgufType::kArray: return Internal("ReadScalar on array");
  }
  return OkStatus();
}

Status ReadValue(Cursor& c, GgufType type, GgufValue* v, const std::string& what) {
  if (type != GgufType::kArray) return ReadScalar(c, type, v, what);
  v->type = GgufType::kArray;
  uint32_t elem = 0;
  RETURN_IF_ERROR(c.Read(&elem, what));
  if (!KnownType(elem)) {
    return Unimplemented(what + ": unknown array element type " + std::to_string(elem));
  }
  if (static_cast<GgufType>(elem) == GgufType::kArray) {
    return Unimplemented(what + ": nested arrays are not supported");
  }
  v->elem_type = static_cast<GgufType>(elem);
  RETURN_IF_ERROR(c.Read(&v->n_elems, what));
  if (v->n_elems > kGgufMaxArrayElems) {
    return OutOfRange(what + ": array of " + std::to_string(v->n_elems) +
                      " elements exceeds the limit of " + std::to_string(kGgufMaxArrayElems) +
                      " (corrupt file?)");
  }
  if (v->elem_type == GgufType::kString) {
    // Each string needs at least its 8-byte length: bound the count before reserving.
    if (v->n_elems > c.remaining() / 8) return c.Truncated(what, v->n_elems * 8);
    v->strings.resize(v->n_elems);
    for (auto& s : v->strings) RETURN_IF_ERROR(c.ReadString(&s, what));
    return OkStatus();
  }
  const uint64_t n_bytes = v->n_elems * ScalarSize(v->elem_type);
  RETURN_IF_ERROR(c.ReadBytes(&v->raw, n_bytes, what));
  if (v->elem_type == GgufType::kBool) {
    for (uint8_t b : v->raw) {
      if (b > 1) return DataLoss(what + ": bool array value " + std::to_string(b));
    }
  }
  return OkStatus();
}

template <typename T>
T LoadAt(const std::vector<uint8_t>& raw, uint64_t i) {
  T x;
  std::memcpy(&x, raw.data() + i * sizeof(T), sizeof(T));
  return x;
}

// Element i of a numeric array as double (integers exactly up to 2^53).
double ArrayElemAsDouble(const GgufValue& v, uint64_t i) {
  switch (v.elem_type) {
    case GgufType::kUint8:
    case GgufType::kBool: return LoadAt<uint8_t>(v.raw, i);
    case GgufType::kInt8: return LoadAt<int8_t>(v.raw, i);
    case GgufType::kUint16: return LoadAt<uint16_t>(v.raw, i);
    case GgufType::kInt16: return LoadAt<int16_t>(v.raw, i);
    case GgufType::kUint32: return LoadAt<uint32_t>(v.raw, i);
    case GgufType::kInt32: return LoadAt<int32_t>(v.raw, i);
    case GgufType::kUint64: return static_cast<double>(LoadAt<uint64_t>(v.raw, i));
    case GgufType::kInt64: return static_cast<double>(LoadAt<int64_t>(v.raw, i));
    case GgufType::kFloat32: return LoadAt<float>(v.raw, i);
    case GgufType::kFloat64: return LoadAt<double>(v.raw, i);
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8: return "u8";
    case GgufType::kInt8: return "i8";
    case GgufType::kUint16: return "u16";
    case GgufType::kInt16: return "i16";
    case GgufType::kUint32: return "u32";
    case GgufType::kInt32: return "i32";
    case GgufType::kFloat32: return "f32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "u64";
    case GgufType::kInt64: return "i64";
    case GgufType::kFloat64: return "f64";
  }
  return "?";
}

GgufValue GgufValue::U32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::kUint32;
  x.u = v;
  return x;
}
GgufValue GgufValue::I32(int32_t v) {
  GgufValue x;
  x.type = GgufType::kInt32;
  x.i = v;
  return x;
}
GgufValue GgufValue::U64(uint64_t v) {
  GgufValue x;
  x.type = GgufType::kUint64;
  x.u = v;
  return x;
}
GgufValue GgufValue::F32(float v) {
  GgufValue x;
  x.type = GgufType::kFloat32;
  x.f = v;
  return x;
}
GgufValue GgufValue::Bool(bool v) {
  GgufValue x;
  x.type = GgufType::kBool;
  x.u = v;
  return x;
}
GgufValue GgufValue::String(std::string v) {
  GgufValue x;
  x.type = GgufType::kString;
  x.str = std::move(v);
  return x;
}
GgufValue GgufValue::StringArray(std::vector<std::string> v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem_type = GgufType::kString;
  x.n_elems = v.size();
  x.strings = std::move(v);
  return x;
}
GgufValue GgufValue::F32Array(std::span<const float> v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem_type = GgufType::kFloat32;
  x.n_elems = v.size();
  x.raw.resize(v.size_bytes());
  std::memcpy(x.raw.data(), v.data(), v.size_bytes());
  return x;
}
GgufValue GgufValue::I32Array(std::span<const int32_t> v) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem_type = GgufType::kInt32;
  x.n_elems = v.size();
  x.raw.resize(v.size_bytes());
  std::memcpy(x.raw.data(), v.data(), v.size_bytes());
  return x;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64: return true;
    default: return false;
  }
}
bool GgufValue::is_float() const {
  return type == GgufType::kFloat32 || type == GgufType::kFloat64;
}

std::string GgufValue::ToDisplayString() const {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kUint16:
    case GgufType::kUint32:
    case GgufType::kUint64: return std::to_string(u);
    case GgufType::kInt8:
    case GgufType::kInt16:
    case GgufType::kInt32:
    case GgufType::kInt64: return std::to_string(i);
    case GgufType::kFloat32:
    case GgufType::kFloat64: {
      char buf[32];
      snprintf(buf, sizeof(buf), "%g", f);
      return buf;
    }
    case GgufType::kBool: return u ? "true" : "false";
    case GgufType::kString:
      return str.size() > 60 ? "\"" + str.substr(0, 57) + "...\"" : "\"" + str + "\"";
    case GgufType::kArray:
      return std::string("[") + std::string(GgufTypeName(elem_type)) + " x " +
             std::to_string(n_elems) + "]";
  }
  return "?";
}

uint64_t GgufTensorInfo::n_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

std::string GgufTensorInfo::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound(path + ": no such file");
    return InvalidArgument(path + ": cannot open (" + std::strerror(err) + ")");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const size_t n = static_cast<size_t>(st.st_size);
  if (n > 0) {
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return InvalidArgument(path + ": mmap failed (" + std::strerror(err) + ")");
    }
    f->map_ = p;
    f->map_bytes_ = n;
    f->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(p), n);
  }
  ::close(fd);
  RETURN_IF_ERROR(f->Parse().WithContext(path));
  return f;
}

void GgufFile::DropPages(const uint8_t* p, uint64_t n) const {
  if (map_ == nullptr || n == 0) return;
  const auto base = reinterpret_cast<uintptr_t>(map_);
  const auto begin = reinterpret_cast<uintptr_t>(p);
  if (begin < base || begin + n > base + map_bytes_) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (begin + page - 1) / page * page;  // whole pages inside the range only
  const uintptr_t last = (begin + n) / page * page;
  if (last > first) {
    (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);  // advice only
  }
}

StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBytes(std::string name,
                                                        std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = std::move(name);
  f->bytes_ = bytes;
  RETURN_IF_ERROR(f->Parse().WithContext(f->path_));
  return f;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

Status GgufFile::Parse() {
  Cursor c(bytes_);
  uint32_t magic = 0;
  if (bytes_.size() < 4) {
    return DataLoss("file is " + std::to_string(bytes_.size()) +
                    " bytes, too short to be a GGUF model (truncated download?)");
  }
  RETURN_IF_ERROR(c.Read(&magic, "magic"));
  if (magic != kGgufMagic) {
    return InvalidArgument("not a GGUF file (bad magic; expected \"GGUF\" at offset 0)");
  }
  RETURN_IF_ERROR(c.Read(&version_, "version"));
  if (version_ == 1) return Unimplemented("GGUF version 1 is not supported (re-convert the model)");
  if (version_ != 2 && version_ != 3) {
    return Unimplemented("GGUF version " + std::to_string(version_) +
                         " is not supported (only 2 and 3)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  RETURN_IF_ERROR(c.Read(&n_tensors, "tensor count"));
  RETURN_IF_ERROR(c.Read(&n_kv, "metadata count"));
  if (n_tensors > kGgufMaxTensors) {
    return OutOfRange("tensor count " + std::to_string(n_tensors) + " exceeds the limit of " +
                      std::to_string(kGgufMaxTensors) + " (corrupt header?)");
  }
  if (n_kv > kGgufMaxKeys) {
    return OutOfRange("metadata count " + std::to_string(n_kv) + " exceeds the limit of " +
                      std::to_string(kGgufMaxKeys) + " (corrupt header?)");
  }
  // Every key needs at least 12 bytes (length + type), every tensor info 24.
  if (n_kv > c.remaining() / 12) return c.Truncated("metadata", n_kv * 12);

  kvs_.reserve(n_kv);
  std::unordered_set<std::string> seen;
  for (uint64_t k = 0; k < n_kv; ++k) {
    GgufKv kv;
    RETURN_IF_ERROR(c.ReadString(&kv.key, "metadata key #" + std::to_string(k)));
    uint32_t type = 0;
    RETURN_IF_ERROR(c.Read(&type, kv.key));
    if (!KnownType(type)) {
      return Unimplemented("metadata key '" + kv.key + "' has unknown value type " +
                           std::to_string(type) + " (corrupt file or newer GGUF?)");
    }
    RETURN_IF_ERROR(
        ReadValue(c, static_cast<GgufType>(type), &kv.value, "metadata key '" + kv.key + "'"));
    if (!seen.insert(kv.key).second) {
      return InvalidArgument("duplicate metadata key '" + kv.key + "'");
    }
    kvs_.push_back(std::move(kv));
  }

  if (const GgufValue* a = Find("general.alignment")) {
    if (!a->is_integer() || a->u == 0 || a->u > (1u << 16) || (a->u & (a->u - 1)) != 0) {
      return InvalidArgument("general.alignment must be a power of two up to 65536");
    }
    alignment_ = static_cast<uint32_t>(a->u);
  }

  if (n_tensors > c.remaining() / 24) return c.Truncated("tensor infos", n_tensors * 24);
  tensors_.reserve(n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t t = 0; t < n_tensors; ++t) {
    GgufTensorInfo ti;
    RETURN_IF_ERROR(c.ReadString(&ti.name, "tensor name #" + std::to_string(t)));
    const std::string what = "tensor '" + ti.name + "'";
    uint32_t n_dims = 0;
    RETURN_IF_ERROR(c.Read(&n_dims, what));
    if (n_dims == 0 || n_dims > kGgufMaxDims) {
      return InvalidArgument(what + " has " + std::to_string(n_dims) + " dimensions (1 to " +
                             std::to_string(kGgufMaxDims) + " allowed)");
    }
    ti.shape.resize(n_dims);
    uint64_t n_elems = 1;
    for (auto& d : ti.shape) {
      RETURN_IF_ERROR(c.Read(&d, what));
      if (d == 0 || d > (1ull << 40) || n_elems > (1ull << 48) / d) {
        return OutOfRange(what + " has an absurd dimension " + std::to_string(d));
      }
      n_elems *= d;
    }
    uint32_t type = 0;
    RETURN_IF_ERROR(c.Read(&type, what));
    const auto traits = kernels::TraitsOf(type);
    if (!traits) {
      return Unimplemented(what + " has unknown weight type " + std::to_string(type) +
                           " (newer GGUF than this build understands?)");
    }
    ti.type = static_cast<kernels::WeightType>(type);
    if (ti.shape[0] % traits->block_elems != 0) {
      return InvalidArgument(what + " row length " + std::to_string(ti.shape[0]) +
                             " is not a multiple of the " + std::string(traits->name) +
                             " block size " + std::to_string(traits->block_elems));
    }
    ti.n_bytes = n_elems / traits->block_elems * traits->block_bytes;
    RETURN_IF_ERROR(c.Read(&ti.offset, what));
    if (ti.offset % alignment_ != 0) {
      return InvalidArgument(what + " data offset " + std::to_string(ti.offset) +
                             " is not aligned to " + std::to_string(alignment_));
    }
    if (!names.insert(ti.name).second) return InvalidArgument("duplicate " + what);
    tensors_.push_back(std::move(ti));
  }

  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > bytes_.size()) {
    return DataLoss("the tensor data section starts at offset " + std::to_string(data_offset_) +
                    " but the file is " + std::to_string(bytes_.size()) +
                    " bytes (truncated download?)");
  }
  const uint64_t data_bytes = bytes_.size() - std::min<uint64_t>(data_offset_, bytes_.size());
  for (auto& ti : tensors_) {
    if (ti.offset > data_bytes || ti.n_bytes > data_bytes - ti.offset) {
      const uint64_t end = data_offset_ + ti.offset + ti.n_bytes;
      return DataLoss("tensor '" + ti.name + "' (" + std::string(kernels::WeightTypeName(ti.type)) +
                      " " + ti.ShapeString() + ") needs " + HumanBytes(ti.n_bytes) +
                      " ending at offset " + std::to_string(end) + ", past the end of the " +
                      std::to_string(bytes_.size()) + "-byte file (truncated download?)");
    }
    ti.data = bytes_.data() + data_offset_ + ti.offset;
  }
  return OkStatus();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  for (const auto& kv : kvs_) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

namespace {
Status Missing(const std::string& path, std::string_view key) {
  return NotFound(path + ": metadata key '" + std::string(key) + "' is missing");
}
bool IsSigned(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 ||
         t == GgufType::kInt64;
}
Status WrongType(const std::string& path, std::string_view key, const GgufValue& v,
                 std::string_view want) {
  return InvalidArgument(path + ": metadata key '" + std::string(key) + "' is " +
                         std::string(GgufTypeName(v.type)) + ", expected " + std::string(want));
}
}  // namespace

StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufType::kString) return WrongType(path_, key, *v, "string");
  return v->str;
}

StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (!v->is_integer()) return WrongType(path_, key, *v, "an integer");
  const bool is_signed = IsSigned(v->type);
  if (is_signed) {
    if (v->i < 0) {
      return InvalidArgument(path_ + ": metadata key '" + std::string(key) + "' is negative (" +
                             std::to_string(v->i) + ")");
    }
    return static_cast<uint64_t>(v->i);
  }
  return v->u;
}

StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (!v->is_integer()) return WrongType(path_, key, *v, "an integer");
  const bool is_signed = IsSigned(v->type);
  if (is_signed) return v->i;
  if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return OutOfRange(path_ + ": metadata key '" + std::string(key) + "' is too large");
  }
  return static_cast<int64_t>(v->u);
}

StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->is_float()) return v->f;
  if (v->is_integer()) {
    ASSIGN_OR_RETURN(int64_t i, GetInt(key));
    return static_cast<double>(i);
  }
  return WrongType(path_, key, *v, "a number");
}

StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufType::kBool) return WrongType(path_, key, *v, "bool");
  return v->u != 0;
}

StatusOr<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufType::kArray || v->elem_type != GgufType::kString) {
    return WrongType(path_, key, *v, "an array of strings");
  }
  return v->strings;
}

StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufType::kArray || v->elem_type == GgufType::kString) {
    return WrongType(path_, key, *v, "an array of numbers");
  }
  std::vector<float> out(v->n_elems);
  for (uint64_t i = 0; i < v->n_elems; ++i) out[i] = static_cast<float>(ArrayElemAsDouble(*v, i));
  return out;
}

StatusOr<std::vector<int32_t>> GgufFile::GetInt32Array(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufType::kArray || v->elem_type == GgufType::kString ||
      v->elem_type == GgufType::kFloat32 || v->elem_type == GgufType::kFloat64) {
    return WrongType(path_, key, *v, "an array of integers");
  }
  std::vector<int32_t> out(v->n_elems);
  for (uint64_t i = 0; i < v->n_elems; ++i) {
    const double d = ArrayElemAsDouble(*v, i);
    if (d < std::numeric_limits<int32_t>::min() || d > std::numeric_limits<int32_t>::max()) {
      return OutOfRange(path_ + ": metadata key '" + std::string(key) + "' element " +
                        std::to_string(i) + " does not fit in int32");
    }
    out[i] = static_cast<int32_t>(d);
  }
  return out;
}

StatusOr<std::string> GgufFile::GetStringOr(std::string_view key, std::string def) const {
  if (!Find(key)) return def;
  return GetString(key);
}
StatusOr<uint64_t> GgufFile::GetUintOr(std::string_view key, uint64_t def) const {
  if (!Find(key)) return def;
  return GetUint(key);
}
StatusOr<double> GgufFile::GetFloatOr(std::string_view key, double def) const {
  if (!Find(key)) return def;
  return GetFloat(key);
}
StatusOr<bool> GgufFile::GetBoolOr(std::string_view key, bool def) const {
  if (!Find(key)) return def;
  return GetBool(key);
}

}  // namespace tandem::model
