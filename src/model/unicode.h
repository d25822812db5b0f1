// UTF-8 helpers for the tokenizers, and GPT-2's reversible byte <-> unicode mapping (byte-level
// BPE vocabularies spell every byte as a printable code point, e.g. ' ' as 'Ġ' U+0120).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::model {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Bytes in the UTF-8 sequence that starts with `lead`, judged by its high bits only (1 for ASCII
// and for stray continuation bytes, 2, 3 or 4). Never 0, so a scan always advances.
int Utf8SeqLen(uint8_t lead);

// Appends the UTF-8 encoding of `cp` (code points past U+10FFFF become U+FFFD).
void AppendUtf8(uint32_t cp, std::string* out);

// Lenient decoding as llama.cpp does before pre-tokenizing: a malformed sequence (bad lead byte,
// missing continuation bytes, truncated) becomes U+FFFD and consumes one byte. Overlong forms
// and surrogates are decoded as written. Returns the code point and sets `*len` (>= 1).
uint32_t DecodeUtf8Lenient(std::string_view s, size_t pos, size_t* len);

enum class Utf8Check { kValid, kIncomplete, kInvalid };

// Strict check of the sequence at `pos` (no overlongs, surrogates or code points past
// U+10FFFF). kIncomplete: a valid prefix cut off by the end of `s`. `*len` is the sequence
// length when valid, else the number of bytes to drop (>= 1).
Utf8Check CheckUtf8(std::string_view s, size_t pos, size_t* len);

// GPT-2 bytes_to_unicode: the UTF-8 spelling of the code point that stands for `byte`.
const std::string& ByteToUnicode(uint8_t byte);
// The byte a code point stands for, or -1 if it is not one of the 256 mapped code points.
int UnicodeToByte(uint32_t cp);

// Each byte of `text` replaced by its GPT-2 spelling.
std::string ByteLevelEncode(std::string_view text);
// Inverse of ByteLevelEncode for a token's text. Code points outside the mapping (added tokens
// written in plain UTF-8) are copied through unchanged.
std::string ByteLevelDecode(std::string_view text);

}  // namespace tandem::model
