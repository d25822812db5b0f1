// Tokenizers built from GGUF metadata: SentencePiece-style ("llama": scores, byte fallback) and
// byte-level BPE ("gpt2", pre-tokenizer chosen by tokenizer.ggml.pre, regexes through PCRE2).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
  int32_t eot_id = -1;  // end of turn (<|eot_id|>, <|im_end|>, <|end|>) or -1
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;           // tokenizer.ggml.add_bos_token (default: true for llama)
  bool add_eos = false;           // tokenizer.ggml.add_eos_token
  bool add_space_prefix = true;   // tokenizer.ggml.add_space_prefix (SPM only)
};

// Reads VocabData from a GGUF file's metadata, applying the defaults llama.cpp uses.
StatusOr<VocabData> ReadVocab(const GgufFile& file);

class Tokenizer {
 public:
  static StatusOr<std::unique_ptr<Tokenizer>> Create(VocabData data);
  virtual ~Tokenizer() = default;

  // Text to ids. `add_special` adds BOS (and EOS) as the vocabulary asks; `parse_special`
  // matches control / user-defined tokens written in the text (e.g. "<|im_start|>").
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;
  // The raw bytes a token stands for (byte tokens decoded, "▁" turned into a space for SPM,
  // byte-level BPE mapped back to bytes). Control tokens give "" unless `render_special`.
  virtual std::string TokenToPiece(int32_t id, bool render_special = false) const = 0;
  // Concatenated pieces; for SPM a leading space after BOS is removed as llama.cpp does.
  std::string Decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  const VocabData& vocab() const { return data_; }
  int32_t n_vocab() const { return static_cast<int32_t>(data_.tokens.size()); }
  int32_t bos() const { return data_.bos_id; }
  int32_t eos() const { return data_.eos_id; }
  // True for EOS, EOT and other end-of-generation tokens.
  bool IsEndOfGeneration(int32_t id) const;
  // Id of a token written exactly like `text`, or -1.
  int32_t FindToken(std::string_view text) const;
  // 64-bit hash of everything that affects tokenization (the KV wire handshake uses it).
  uint64_t Fingerprint() const;

 protected:
  explicit Tokenizer(VocabData data) : data_(std::move(data)) {}
  VocabData data_;
};

// Turns a stream of ids into text that is always valid UTF-8: bytes of a character split across
// tokens are held back until the character is complete.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  // Text that became complete with this token (may be empty).
  std::string Push(int32_t id);
  // Whatever is still held back (invalid sequences are emitted as U+FFFD).
  std::string Flush();

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool first_ = true;
};

}  // namespace tandem::model
