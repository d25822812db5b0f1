#include "model/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tandem::model {
namespace {

class Buffer {
 public:
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void Pad(uint32_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

void PutScalar(Buffer& b, const GgufValue& v) {
  switch (v.type) {
    case GgufType::kUint8: b.Put<uint8_t>(v.u); break;
    case GgufType::kInt8: b.Put<int8_t>(v.i); break;
    case GgufType::kUint16: b.Put<uint16_t>(v.u); break;
    case GgufType::kInt16: b.Put<int16_t>(v.i); break;
    case GgufType::kUint32: b.Put<uint32_t>(v.u); break;
    case GgufType::kInt32: b.Put<int32_t>(v.i); break;
    case GgufType::kUint64: b.Put<uint64_t>(v.u); break;
    case GgufType::kInt64: b.Put<int64_t>(v.i); break;
    case GgufType::kFloat32: b.Put<float>(static_cast<float>(v.f)); break;
    case GgufType::kFloat64: b.Put<double>(v.f); break;
    case GgufType::kBool: b.Put<uint8_t>(v.u ? 1 : 0); break;
    case GgufType::kString: b.PutString(v.str); break;
    case GgufType::kArray:
      b.Put<uint32_t>(static_cast<uint32_t>(v.elem_type));
      b.Put<uint64_t>(v.n_elems);
      if (v.elem_type == GgufType::kString) {
        for (const auto& s : v.strings) b.PutString(s);
      } else {
        b.bytes().insert(b.bytes().end(), v.raw.begin(), v.raw.end());
      }
      break;
  }
}

}  // namespace

void GgufWriter::Set(std::string key, GgufValue value) {
  for (auto& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back({std::move(key), std::move(value)});
}

void GgufWriter::CopyMetadata(const GgufFile& src, std::string_view prefix) {
  for (const auto& kv : src.metadata()) {
    if (kv.key.starts_with(prefix)) Set(kv.key, kv.value);
  }
}

Status GgufWriter::AddTensor(std::string name, std::vector<uint64_t> shape,
                             kernels::WeightType type, FillFn fill) {
  const kernels::WeightTypeTraits t = kernels::TraitsOf(type);
  if (shape.empty() || shape.size() > kGgufMaxDims || shape[0] % t.block_elems != 0) {
    return InvalidArgument("tensor '" + name + "': bad shape for " + std::string(t.name));
  }
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  tensors_.push_back({std::move(name), std::move(shape), type, n / t.block_elems * t.block_bytes,
                      std::move(fill)});
  return OkStatus();
}

Status GgufWriter::AddTensor(std::string name, std::vector<uint64_t> shape,
                             kernels::WeightType type, std::vector<uint8_t> bytes) {
  auto data = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const std::string n = name;
  RETURN_IF_ERROR(AddTensor(
      std::move(name), std::move(shape), type, [data, n](std::span<uint8_t> out) -> Status {
        if (out.size() != data->size()) {
          return InvalidArgument("tensor '" + n + "': " + std::to_string(data->size()) +
                                 " bytes given, " + std::to_string(out.size()) + " needed");
        }
        std::memcpy(out.data(), data->data(), out.size());
        return OkStatus();
      }));
  return OkStatus();
}

Status GgufWriter::Write(const std::function<Status(std::span<const uint8_t>)>& sink) const {
  Buffer head;
  head.Put<uint32_t>(0x46554747);  // "GGUF"
  head.Put<uint32_t>(3);
  head.Put<uint64_t>(tensors_.size());
  const bool has_alignment_key = std::any_of(
      kvs_.begin(), kvs_.end(), [](const GgufKv& kv) { return kv.key == "general.alignment"; });
  const bool write_alignment = alignment != kGgufDefaultAlignment && !has_alignment_key;
  head.Put<uint64_t>(kvs_.size() + (write_alignment ? 1 : 0));
  for (const auto& kv : kvs_) {
    head.PutString(kv.key);
    head.Put<uint32_t>(static_cast<uint32_t>(kv.value.type));
    PutScalar(head, kv.value);
  }
  if (write_alignment) {
    head.PutString("general.alignment");
    head.Put<uint32_t>(static_cast<uint32_t>(GgufType::kUint32));
    head.Put<uint32_t>(alignment);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    head.PutString(t.name);
    head.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (uint64_t d : t.shape) head.Put<uint64_t>(d);
    head.Put<uint32_t>(static_cast<uint32_t>(t.type));
    head.Put<uint64_t>(offset);
    offset += (t.n_bytes + alignment - 1) / alignment * alignment;
  }
  head.Pad(alignment);
  RETURN_IF_ERROR(sink(head.bytes()));
  std::vector<uint8_t> data;
  for (const auto& t : tensors_) {
    data.assign((t.n_bytes + alignment - 1) / alignment * alignment, 0);
    RETURN_IF_ERROR(t.fill(std::span<uint8_t>(data.data(), t.n_bytes)));
    RETURN_IF_ERROR(sink(data));
  }
  return OkStatus();
}

Status GgufWriter::WriteFile(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(tmp.c_str(), "wb"), &std::fclose);
  if (!f) return InvalidArgument(path + ": cannot create (" + std::strerror(errno) + ")");
  Status st = Write([&](std::span<const uint8_t> b) -> Status {
    if (std::fwrite(b.data(), 1, b.size(), f.get()) != b.size()) {
      return Unavailable(path + ": write failed (" + std::strerror(errno) + "; disk full?)");
    }
    return OkStatus();
  });
  if (st.ok() && std::fflush(f.get()) != 0) {
    st = Unavailable(path + ": write failed (" + std::string(std::strerror(errno)) + ")");
  }
  f.reset();
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    st = Unavailable(path + ": rename failed (" + std::string(std::strerror(errno)) + ")");
  }
  if (!st.ok()) std::remove(tmp.c_str());
  return st;
}

StatusOr<std::vector<uint8_t>> GgufWriter::WriteBytes() const {
  std::vector<uint8_t> out;
  RETURN_IF_ERROR(Write([&](std::span<const uint8_t> b) -> Status {
    out.insert(out.end(), b.begin(), b.end());
    return OkStatus();
  }));
  return out;
}

}  // namespace tandem::model
