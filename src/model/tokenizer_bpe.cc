// Byte-level BPE ("gpt2" vocabularies): the pre-tokenizer cuts the text into words spelled in
// GPT-2's byte alphabet, then within each word adjacent pieces are merged by the rank of their
// merge rule (earliest rule first). Same results as llama.cpp's llm_tokenizer_bpe.
#include <algorithm>
#include <optional>

#include "model/pretokenizer.h"
#include "model/symbol_merge.h"
#include "model/tokenizer.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

// Lets the rank table be searched with a reused std::string key without copies.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(VocabData data, std::unique_ptr<PreTokenizer> pre);

  std::vector<int32_t> Encode(std::string_view text, bool add_special,
                              bool parse_special) const override;

 protected:
  std::string NormalPiece(std::string_view token_text) const override {
    return ByteLevelDecode(token_text);
  }

 private:
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  // Rank of the merge "left right", or -1. `key` is scratch space.
  int32_t Rank(std::string_view left, std::string_view right, std::string* key) const;

  std::unique_ptr<PreTokenizer> pre_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> ranks_;  // "l r" -> rank
};

}  // namespace

BpeTokenizer::BpeTokenizer(VocabData data, std::unique_ptr<PreTokenizer> pre)
    : Tokenizer(std::move(data)), pre_(std::move(pre)) {
  ranks_.reserve(data_.merges.size());
  for (size_t i = 0; i < data_.merges.size(); ++i) {
    const std::string& m = data_.merges[i];
    // llama.cpp splits at the first space after the first byte; a rule without one never
    // matches. The first of duplicate rules keeps its rank.
    if (m.size() < 3 || m.find(' ', 1) == std::string::npos) continue;
    ranks_.try_emplace(m, static_cast<int32_t>(i));
  }
}

int32_t BpeTokenizer::Rank(std::string_view left, std::string_view right, std::string* key) const {
  key->assign(left);
  key->push_back(' ');
  key->append(right);
  const auto it = ranks_.find(*key);
  return it == ranks_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool add_special,
                                          bool parse_special) const {
  std::vector<int32_t> out;
  if (add_special && data_.add_bos) out.push_back(data_.bos_id);
  for (const Fragment& f : SplitSpecial(text, parse_special)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    for (const std::string& word : pre_->Split(f.text)) EncodeWord(word, &out);
  }
  if (add_special && data_.add_eos) out.push_back(data_.eos_id);
  return out;
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (pre_->spec().ignore_merges) {
    if (const int32_t id = FindToken(word); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  std::vector<internal::MergeSymbol> symbols =
      internal::SplitSymbols(word, [](std::string_view w, size_t pos) {
        return std::min<size_t>(Utf8SeqLen(static_cast<uint8_t>(w[pos])), w.size() - pos);
      });
  std::string key;
  internal::MergePairs(word, symbols, [&](std::string_view l, std::string_view r) {
    const int32_t rank = Rank(l, r, &key);
    return rank >= 0 ? std::optional<double>(rank) : std::nullopt;  // the lowest rank first
  });

  for (int i = 0; i != -1; i = symbols[i].next) {
    const std::string_view piece = word.substr(symbols[i].start, symbols[i].n);
    if (const int32_t id = FindToken(piece); id >= 0) {
      out->push_back(id);
      continue;
    }
    for (char c : piece) {  // as llama.cpp: single bytes that are tokens, the rest dropped
      if (const int32_t id = FindToken(std::string_view(&c, 1)); id >= 0) out->push_back(id);
    }
  }
}

namespace internal {
StatusOr<std::unique_ptr<Tokenizer>> NewBpeTokenizer(VocabData data) {
  ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre, PreTokenizer::Create(data.pre));
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(data), std::move(pre)));
}
}  // namespace internal

}  // namespace tandem::model
