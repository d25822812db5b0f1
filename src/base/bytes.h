// Little-endian serialisation over byte buffers. The reader checks every length against what is
// left before it reads or allocates.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/status.h"

namespace tandem {

class ByteWriter {
 public:
  template <typename T>
  void Put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  // u32 length, then the bytes.
  void PutString(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void PutBytes(std::span<const uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class ByteReader {
 public:
  ByteReader(std::span<const uint8_t> bytes, std::string_view what) : bytes_(bytes), what_(what) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  bool done() const { return pos_ == bytes_.size(); }

  template <typename T>
  Status Get(T* out) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return Short(sizeof(T));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return OkStatus();
  }
  // A u32-length-prefixed string of at most `max_bytes`.
  Status GetString(std::string* out, uint32_t max_bytes) {
    uint32_t n = 0;
    RETURN_IF_ERROR(Get(&n));
    if (n > max_bytes) {
      return OutOfRange(std::string(what_) + ": string of " + std::to_string(n) +
                        " bytes exceeds the limit of " + std::to_string(max_bytes));
    }
    if (remaining() < n) return Short(n);
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return OkStatus();
  }
  // A view of the next `n` bytes.
  Status GetSpan(size_t n, std::span<const uint8_t>* out) {
    if (remaining() < n) return Short(n);
    *out = bytes_.subspan(pos_, n);
    pos_ += n;
    return OkStatus();
  }
  Status ExpectDone() const {
    if (done()) return OkStatus();
    return DataLoss(std::string(what_) + ": " + std::to_string(remaining()) +
                    " unexpected trailing bytes");
  }

 private:
  Status Short(size_t need) const {
    return DataLoss(std::string(what_) + ": needs " + std::to_string(need) + " more bytes, " +
                    std::to_string(remaining()) + " left");
  }
  std::span<const uint8_t> bytes_;
  std::string_view what_;
  size_t pos_ = 0;
};

}  // namespace tandem
