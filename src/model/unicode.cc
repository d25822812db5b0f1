#include "model/unicode.h"

#include <array>

namespace tandem::model {
namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Bytes that GPT-2 keeps as their own code point: printable Latin-1 except the soft hyphen.
bool MapsToItself(int b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteTables {
  std::array<std::string, 256> spelling;  // byte -> UTF-8 of its code point
  std::array<int16_t, 512> byte_of_cp;    // code point (< 512) -> byte, or -1
};

ByteTables BuildByteTables() {
  ByteTables t;
  t.byte_of_cp.fill(-1);
  int next_cp = 256;  // bytes that are not kept map to 256, 257, ... in byte order
  for (int b = 0; b < 256; ++b) {
    const int cp = MapsToItself(b) ? b : next_cp++;
    AppendUtf8(static_cast<uint32_t>(cp), &t.spelling[b]);
    t.byte_of_cp[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const ByteTables& Tables() {
  static const ByteTables tables = BuildByteTables();
  return tables;
}

}  // namespace

int Utf8SeqLen(uint8_t lead) {
  static constexpr int kLenByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLenByHighNibble[lead >> 4];
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t DecodeUtf8Lenient(std::string_view s, size_t pos, size_t* len) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[pos + i]); };
  const uint8_t b0 = byte(0);
  *len = 1;
  if (b0 < 0x80) return b0;
  int n = 0;
  uint32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07;
  } else {
    return kReplacementChar;  // continuation byte or 0xF8..0xFF as a lead
  }
  if (pos + n > s.size()) return kReplacementChar;
  for (int i = 1; i < n; ++i) {
    if (!IsContinuation(byte(i))) return kReplacementChar;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  *len = static_cast<size_t>(n);
  return cp;
}

Utf8Check CheckUtf8(std::string_view s, size_t pos, size_t* len) {
  const uint8_t b0 = static_cast<uint8_t>(s[pos]);
  *len = 1;
  if (b0 < 0x80) return Utf8Check::kValid;
  int n = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (RFC 3629 table)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return Utf8Check::kInvalid;
  }
  for (int i = 1; i < n; ++i) {
    if (pos + i >= s.size()) return Utf8Check::kIncomplete;
    const uint8_t b = static_cast<uint8_t>(s[pos + i]);
    const bool ok = i == 1 ? (b >= lo && b <= hi) : IsContinuation(b);
    if (!ok) return Utf8Check::kInvalid;  // drop the lead byte only; resync on the next
  }
  *len = static_cast<size_t>(n);
  return Utf8Check::kValid;
}

const std::string& ByteToUnicode(uint8_t byte) { return Tables().spelling[byte]; }

int UnicodeToByte(uint32_t cp) { return cp < 512 ? Tables().byte_of_cp[cp] : -1; }

std::string ByteLevelEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 2);
  for (char c : text) out += ByteToUnicode(static_cast<uint8_t>(c));
  return out;
}

std::string ByteLevelDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 1;
    const uint32_t cp = DecodeUtf8Lenient(text, pos, &len);
    const int b = UnicodeToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace tandem::model
