// FNV-1a, 64-bit: a small, stable hash for fingerprints and seeds (not for security).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem {

class Fnv1a {
 public:
  void Bytes(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ static_cast<const uint8_t*>(p)[i]) * kPrime;
  }
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  void Str(std::string_view s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  void U64(uint64_t v) { Bytes(&v, sizeof(v)); }
  uint64_t value() const { return h_; }

 private:
  static constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t h_ = 0xcbf29ce484222325ull;
};

}  // namespace tandem
