// Tokenizers built from GGUF metadata: SentencePiece-style ("llama": scores, byte fallback) and
// byte-level BPE ("gpt2", pre-tokenizer chosen by tokenizer.ggml.pre, regexes through PCRE2).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace tandem::model {

class GgufFile;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything the tokenizer needs, as read from the GGUF keys tokenizer.ggml.*.
struct VocabData {
  std::string model;                 // tokenizer.ggml.model: "llama" or "gpt2"
  std::string pre;                   // tokenizer.ggml.pre ("" when absent)
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<float> scores;         // tokenizer.ggml.scores (may be empty)
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type (may be empty)
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "left right" (BPE only)
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;  // end of turn; -1: Create looks for <|eot_id|>, <|im_end|>, <|end|>, ...
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;          // tokenizer.ggml.add_bos_token (default: llama, Llama 3 BPE)
  bool add_eos = false;          // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (default: llama; SPM only)
  // Whitespace right after a special token in the text is dropped (except after <unk>, <s>,
  // <|endoftext|>). llama.cpp sets this for Phi-3, recognised by general.name.
  bool rstrip_special = false;
};

// Reads VocabData from a GGUF file's metadata, applying the defaults llama.cpp uses.
StatusOr<VocabData> ReadVocab(const GgufFile& file);

class Tokenizer {
 public:
  // Validates `data` (InvalidArgument: array sizes, special ids out of range; Unimplemented: a
  // tokenizer model or pre-tokenizer we do not support) and builds the lookup tables.
  static StatusOr<std::unique_ptr<Tokenizer>> Create(VocabData data);
  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text to ids. `add_special` adds BOS (and EOS) as the vocabulary asks; `parse_special`
  // matches control / user-defined tokens written in the text (e.g. "<|im_start|>").
  // User-defined tokens are matched even without `parse_special`, as in llama.cpp.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The raw bytes a token stands for (byte tokens decoded, "▁" turned into a space for SPM,
  // byte-level BPE mapped back to bytes). Control tokens give "" unless `render_special`;
  // ids out of range give "".
  std::string TokenToPiece(int32_t id, bool render_special = false) const;
  // Concatenated pieces. For SPM with add_space_prefix, the space that Encode put in front of
  // the text is removed: one leading space of the first piece that is not a leading BOS (so
  // Decode(Encode(x, true, false)) == x); with `render_special` a leading BOS is shown and
  // the space after it kept ("<s> Once"), as llama.cpp prints it. llama.cpp's detokenize keeps
  // that space also when BOS is not shown. No clean-up of spaces before punctuation (llama.cpp's
  // clean_spaces for some BPE vocabularies): the text comes back byte for byte.
  std::string Decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  const VocabData& vocab() const { return data_; }
  int32_t n_vocab() const { return static_cast<int32_t>(data_.tokens.size()); }
  int32_t bos() const { return data_.bos_id; }
  int32_t eos() const { return data_.eos_id; }
  int32_t eot() const { return data_.eot_id; }
  // The type the tokenizer acts on: tokenizer.ggml.token_type (kNormal when absent), with
  // end-of-turn tokens forced to kControl as llama.cpp does. kUndefined for ids out of range.
  TokenType token_type(int32_t id) const;
  // True for EOS, EOT and the other end-of-generation tokens llama.cpp knows by name
  // (<|eot_id|>, <|eom_id|>, <|im_end|>, <|end|>, <end_of_turn>, <|endoftext|>, ...).
  bool IsEndOfGeneration(int32_t id) const;
  // Id of a token written exactly like `text`, or -1.
  int32_t FindToken(std::string_view text) const;
  // 64-bit hash of everything that affects tokenization (the KV wire handshake uses it).
  uint64_t Fingerprint() const { return fingerprint_; }
  // True when decoding drops the space that encoding put in front of the text (SPM with
  // add_space_prefix): from the first piece that is not a leading BOS.
  bool strips_leading_space() const { return strips_leading_space_; }

 protected:
  explicit Tokenizer(VocabData data);

  // A run of plain text, or a special token found in the text.
  struct Fragment {
    std::string_view text;
    int32_t token = -1;  // >= 0: this fragment is that token
  };
  // Splits `text` around special tokens as llama.cpp's tokenizer_st_partition does: longest
  // tokens first, each cutting the text fragments that are left. Control and unknown tokens
  // take part only with `parse_special`; user-defined ones always.
  std::vector<Fragment> SplitSpecial(std::string_view text, bool parse_special) const;
  // The piece of a kNormal token: the vocabulary's spelling of spaces or bytes undone.
  virtual std::string NormalPiece(std::string_view token_text) const = 0;

  VocabData data_;

 private:
  void BuildIndex();
  void FindEndOfGeneration();
  void CollectSpecialTokens();
  bool RStrips(int32_t id) const;

  std::unordered_map<std::string_view, int32_t> token_to_id_;  // views into data_.tokens
  std::vector<TokenType> types_;                               // [n_vocab]
  std::vector<int32_t> special_ids_;  // control, user-defined, unknown; longest text first
  std::vector<int32_t> eog_ids_;
  uint64_t fingerprint_ = 0;
  bool strips_leading_space_ = false;
};

// Turns a stream of ids into text that is always valid UTF-8: bytes of a character split across
// tokens are held back until the character is complete. The concatenated output equals
// Decode() of the same ids when that is valid UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok)
      : tok_(tok), strip_pending_(tok.strips_leading_space()) {}
  // Text that became complete with this token (may be empty).
  std::string Push(int32_t id);
  // Whatever is still held back (invalid sequences are emitted as U+FFFD).
  std::string Flush();

 private:
  // Emits the complete characters of pending_ (invalid bytes as U+FFFD); with `final`, an
  // incomplete tail too.
  std::string Drain(bool final);

  const Tokenizer& tok_;
  std::string pending_;
  bool first_ = true;
  bool strip_pending_ = false;
};

namespace internal {
// Constructors of the concrete tokenizers, for Tokenizer::Create (data already validated).
std::unique_ptr<Tokenizer> NewSpmTokenizer(VocabData data);
StatusOr<std::unique_ptr<Tokenizer>> NewBpeTokenizer(VocabData data);
}  // namespace internal

}  // namespace tandem::model
