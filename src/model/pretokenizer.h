// Pre-tokenizers of byte-level BPE vocabularies: the regexes (PCRE2, UTF + UCP) that cut text
// into words before merges, chosen by tokenizer.ggml.pre as llama.cpp does.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tandem::model {

// What a tokenizer.ggml.pre value means.
struct PreTokenizerSpec {
  std::vector<std::string_view> names;     // tokenizer.ggml.pre values with this behaviour
  std::vector<std::string_view> patterns;  // applied in turn, each to the pieces of the last
  bool ignore_merges = false;  // a word that is itself a token is emitted whole (Llama 3)
  bool add_bos = false;        // default of tokenizer.ggml.add_bos_token
};

// The spec for `pre`, or nullptr if it is not supported. "" means "default".
const PreTokenizerSpec* FindPreTokenizerSpec(std::string_view pre);
// "default, gpt-2, ..." for error messages.
std::string SupportedPreTokenizers();

// Compiled patterns. Thread-safe: Split may run concurrently.
class PreTokenizer {
 public:
  // Unimplemented for an unknown `pre` (the message lists the supported ones).
  static StatusOr<std::unique_ptr<PreTokenizer>> Create(std::string_view pre);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Cuts `text` into words as llama.cpp's unicode_regex_split does: malformed UTF-8 becomes
  // U+FFFD first, text between matches is a word of its own, and every word is returned in its
  // GPT-2 byte-level spelling (ready for merges).
  std::vector<std::string> Split(std::string_view text) const;

  const PreTokenizerSpec& spec() const { return spec_; }

 private:
  struct Compiled;
  explicit PreTokenizer(const PreTokenizerSpec& spec);

  // Appends the byte lengths of the pieces of `piece` (UTF-8, valid) cut by pattern `i`.
  void SplitPiece(size_t i, std::string_view piece, std::vector<size_t>* lengths) const;

  const PreTokenizerSpec& spec_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
};

}  // namespace tandem::model
