// SentencePiece-style tokenizer ("llama" vocabularies): spaces become "▁", adjacent pieces are
// merged while the merged text is a token, highest score first, and bytes of characters that
// end up outside the vocabulary fall back to <0xXX> tokens. Same results as llama.cpp's
// llm_tokenizer_spm.
#include <array>
#include <cstdio>
#include <optional>

#include "model/symbol_merge.h"
#include "model/tokenizer.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 "▁"

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(VocabData data) : Tokenizer(std::move(data)) {
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      int32_t id = FindToken(hex);
      if (id < 0) id = FindToken(std::string(1, static_cast<char>(b)));
      byte_ids_[b] = id;
    }
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const override;

 protected:
  std::string NormalPiece(std::string_view token_text) const override;

 private:
  // Tokenizes `text` whose spaces are already "▁".
  void EncodeEscaped(std::string_view text, std::vector<int32_t>* out) const;
  float Score(int32_t id) const { return data_.scores.empty() ? 0.0f : data_.scores[id]; }

  std::array<int32_t, 256> byte_ids_{};  // byte fallback: <0xXX> (or the byte itself) or -1
};

}  // namespace

std::vector<int32_t> SpmTokenizer::Encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && data_.add_bos) out.push_back(data_.bos_id);
  bool prev_special = true;  // the first text fragment gets the space prefix too
  std::string escaped;
  for (const Fragment& f : SplitSpecial(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    escaped.clear();
    if (data_.add_space_prefix && prev_special) escaped = kSpace;
    for (char c : f.text) {
      if (c == ' ') {
        escaped += kSpace;
      } else {
        escaped += c;
      }
    }
    EncodeEscaped(escaped, &out);
    prev_special = false;
  }
  if (add_special && data_.add_eos) out.push_back(data_.eos_id);
  return out;
}

void SpmTokenizer::EncodeEscaped(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  // One character per symbol. A malformed sequence is one byte (llama.cpp trusts the lead byte
  // and can swallow a following "▁" into a byte-fallback run).
  std::vector<internal::MergeSymbol> symbols =
      internal::SplitSymbols(text, [](std::string_view t, size_t pos) {
        size_t n = 1;
        DecodeUtf8Lenient(t, pos, &n);
        return n;
      });
  internal::MergePairs(text, symbols, [&](std::string_view l, std::string_view r) {
    // The two pieces are adjacent in `text`: their concatenation is one view.
    const int32_t id = FindToken(std::string_view(l.data(), l.size() + r.size()));
    return id >= 0 ? std::optional<double>(-Score(id)) : std::nullopt;  // the highest score first
  });

  for (int i = 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].start, symbols[i].n);
    if (const int32_t id = FindToken(piece); id >= 0) {
      out->push_back(id);
      continue;
    }
    // Not in the vocabulary: its bytes as byte tokens, or one UNK if some byte has none.
    const size_t first_new = out->size();
    bool all_bytes = true;
    for (char c : piece) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      all_bytes &= id >= 0;
      out->push_back(id);
    }
    if (!all_bytes) {
      out->resize(first_new);
      if (data_.unk_id >= 0) out->push_back(data_.unk_id);
    }
  }
}

std::string SpmTokenizer::NormalPiece(std::string_view token_text) const {
  std::string out;
  out.reserve(token_text.size());
  for (size_t pos = 0; pos < token_text.size();) {
    if (token_text.substr(pos, kSpace.size()) == kSpace) {
      out += ' ';
      pos += kSpace.size();
    } else {
      out += token_text[pos++];
    }
  }
  return out;
}

namespace internal {
std::unique_ptr<Tokenizer> NewSpmTokenizer(VocabData data) {
  return std::make_unique<SpmTokenizer>(std::move(data));
}
}  // namespace internal

}  // namespace tandem::model
