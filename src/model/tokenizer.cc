// ReadVocab, validation, the parts shared by SPM and BPE (special tokens, pieces, end of
// generation, fingerprint) and StreamDecoder. The algorithms follow llama.cpp's
// src/llama-vocab.cpp; the two tokenizers are in tokenizer_spm.cc and tokenizer_bpe.cc.
#include "model/tokenizer.h"

#include <algorithm>
#include <cctype>

#include "base/hash.h"
#include "model/gguf.h"
#include "model/pretokenizer.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

// Far above any real vocabulary (Gemma's 262144); keeps ids in int32 with room to spare.
constexpr size_t kMaxVocabTokens = size_t{1} << 24;

// End-of-turn tokens by name, most specific first (used when tokenizer.ggml.eot_token_id is
// absent), and the wider set of names that end generation (llama.cpp's special_eog_ids).
constexpr std::string_view kEotNames[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                          "<|endoftext|>", "<end_of_turn>", "<|end_of_text|>"};
constexpr std::string_view kEogNames[] = {"<|eot_id|>",     "<|eom_id|>",    "<|im_end|>",
                                          "<|end|>",        "<end_of_turn>", "<|endoftext|>",
                                          "<|end_of_text|>"};

// Reads an optional token id key. Absent, or a value outside the vocabulary (llama.cpp warns
// and keeps its default): `*id` is unchanged.
Status ReadTokenId(const GgufFile& f, std::string_view key, size_t n_tokens, int32_t* id) {
  if (f.Find(key) == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(const int64_t v, f.GetInt(key));
  if (v >= 0 && static_cast<uint64_t>(v) < n_tokens) *id = static_cast<int32_t>(v);
  return OkStatus();
}

// llama.cpp's defaults for the special ids and flags of each tokenizer model.
void ApplyModelDefaults(VocabData* v) {
  if (v->model == "llama") {
    v->bos_id = 1, v->eos_id = 2, v->unk_id = 0;
    v->add_bos = true;
    v->add_space_prefix = true;
  } else if (v->model == "gpt2") {
    v->bos_id = 11, v->eos_id = 11;  // as llama.cpp; real files set both keys
    const PreTokenizerSpec* spec = FindPreTokenizerSpec(v->pre);
    v->add_bos = spec != nullptr && spec->add_bos;
    v->add_space_prefix = false;
  }
  const auto n = static_cast<int64_t>(v->tokens.size());
  for (int32_t* id : {&v->bos_id, &v->eos_id, &v->unk_id}) {
    if (*id >= n) *id = -1;
  }
}

Status CheckId(std::string_view what, int32_t id, size_t n_tokens) {
  if (id >= -1 && (id < 0 || static_cast<size_t>(id) < n_tokens)) return OkStatus();
  return InvalidArgument("tokenizer: " + std::string(what) + " " + std::to_string(id) +
                         " is outside the vocabulary of " + std::to_string(n_tokens) +
                         " tokens (use -1 for none)");
}

Status Validate(const VocabData& d) {
  const size_t n = d.tokens.size();
  if (n == 0) return InvalidArgument("tokenizer: the vocabulary has no tokens");
  if (n > kMaxVocabTokens) {
    return OutOfRange("tokenizer: " + std::to_string(n) + " tokens exceed the limit of " +
                      std::to_string(kMaxVocabTokens));
  }
  if (!d.scores.empty() && d.scores.size() != n) {
    return InvalidArgument("tokenizer: " + std::to_string(d.scores.size()) + " scores for " +
                           std::to_string(n) + " tokens (tokenizer.ggml.scores)");
  }
  if (!d.token_types.empty() && d.token_types.size() != n) {
    return InvalidArgument("tokenizer: " + std::to_string(d.token_types.size()) +
                           " token types for " + std::to_string(n) +
                           " tokens (tokenizer.ggml.token_type)");
  }
  RETURN_IF_ERROR(CheckId("bos_id", d.bos_id, n));
  RETURN_IF_ERROR(CheckId("eos_id", d.eos_id, n));
  RETURN_IF_ERROR(CheckId("eot_id", d.eot_id, n));
  RETURN_IF_ERROR(CheckId("unk_id", d.unk_id, n));
  RETURN_IF_ERROR(CheckId("pad_id", d.pad_id, n));
  if (d.add_bos && d.bos_id < 0) {
    return InvalidArgument("tokenizer: add_bos is set but there is no BOS token");
  }
  if (d.add_eos && d.eos_id < 0) {
    return InvalidArgument("tokenizer: add_eos is set but there is no EOS token");
  }
  return OkStatus();
}

uint64_t HashVocab(const VocabData& d) {
  Fnv1a h;
  h.Str(d.model);
  h.Str(d.pre);
  h.U64(d.tokens.size());
  for (const std::string& t : d.tokens) h.Str(t);
  h.U64(d.token_types.size());
  h.Bytes(d.token_types.data(), d.token_types.size() * sizeof(int32_t));
  h.U64(d.scores.size());
  h.Bytes(d.scores.data(), d.scores.size() * sizeof(float));
  h.U64(d.merges.size());
  for (const std::string& m : d.merges) h.Str(m);
  for (int32_t id : {d.bos_id, d.eos_id, d.unk_id}) h.U64(static_cast<uint64_t>(id));
  h.U64((d.add_bos ? 1 : 0) | (d.add_eos ? 2 : 0) | (d.add_space_prefix ? 4 : 0) |
        (d.rstrip_special ? 8 : 0));
  return h.value();
}

// The byte of a "<0xHH>" token, or -1.
int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

StatusOr<VocabData> ReadVocab(const GgufFile& f) {
  VocabData v;
  ASSIGN_OR_RETURN(v.model, f.GetString("tokenizer.ggml.model"));
  ASSIGN_OR_RETURN(v.pre, f.GetStringOr("tokenizer.ggml.pre", ""));
  ASSIGN_OR_RETURN(v.tokens, f.GetStringArray("tokenizer.ggml.tokens"));
  if (f.Find("tokenizer.ggml.scores") != nullptr) {
    ASSIGN_OR_RETURN(v.scores, f.GetFloatArray("tokenizer.ggml.scores"));
  }
  if (f.Find("tokenizer.ggml.token_type") != nullptr) {
    ASSIGN_OR_RETURN(v.token_types, f.GetInt32Array("tokenizer.ggml.token_type"));
  }
  if (v.model == "gpt2") {
    if (f.Find("tokenizer.ggml.merges") == nullptr) {
      return InvalidArgument(f.path() +
                             ": byte-level BPE vocabulary without tokenizer.ggml.merges "
                             "(re-convert the model with a current convert_hf_to_gguf.py?)");
    }
    ASSIGN_OR_RETURN(v.merges, f.GetStringArray("tokenizer.ggml.merges"));
  }
  ApplyModelDefaults(&v);
  const size_t n = v.tokens.size();
  RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.bos_token_id", n, &v.bos_id));
  RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.eos_token_id", n, &v.eos_id));
  RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.eot_token_id", n, &v.eot_id));
  RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.unknown_token_id", n, &v.unk_id));
  RETURN_IF_ERROR(ReadTokenId(f, "tokenizer.ggml.padding_token_id", n, &v.pad_id));
  ASSIGN_OR_RETURN(v.add_bos, f.GetBoolOr("tokenizer.ggml.add_bos_token", v.add_bos));
  ASSIGN_OR_RETURN(v.add_eos, f.GetBoolOr("tokenizer.ggml.add_eos_token", v.add_eos));
  ASSIGN_OR_RETURN(v.add_space_prefix,
                   f.GetBoolOr("tokenizer.ggml.add_space_prefix", v.add_space_prefix));
  const GgufValue* general_name = f.Find("general.name");
  std::string name =
      general_name != nullptr && general_name->type == GgufType::kString ? general_name->str : "";
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  v.rstrip_special =
      name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos;
  return v;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Create(VocabData data) {
  RETURN_IF_ERROR(Validate(data));
  if (data.model == "llama") return internal::NewSpmTokenizer(std::move(data));
  if (data.model == "gpt2") return internal::NewBpeTokenizer(std::move(data));
  return Unimplemented("tokenizer model '" + data.model +
                       "' is not supported (supported: llama, gpt2)");
}

Tokenizer::Tokenizer(VocabData data) : data_(std::move(data)) {
  BuildIndex();
  FindEndOfGeneration();
  CollectSpecialTokens();
  fingerprint_ = HashVocab(data_);
  strips_leading_space_ = data_.model == "llama" && data_.add_space_prefix;
}

Tokenizer::~Tokenizer() = default;

void Tokenizer::BuildIndex() {
  const size_t n = data_.tokens.size();
  token_to_id_.reserve(n);
  types_.assign(n, TokenType::kNormal);
  for (size_t i = 0; i < n; ++i) {
    // The first of duplicate spellings wins; empty tokens cannot be matched.
    if (!data_.tokens[i].empty()) {
      token_to_id_.try_emplace(data_.tokens[i], static_cast<int32_t>(i));
    }
    if (!data_.token_types.empty()) {
      const int32_t t = data_.token_types[i];
      types_[i] = t >= 0 && t <= static_cast<int32_t>(TokenType::kByte) ? static_cast<TokenType>(t)
                                                                        : TokenType::kUndefined;
    }
  }
}

void Tokenizer::FindEndOfGeneration() {
  // Tokens found by name are control tokens whatever the file says, as in llama.cpp.
  if (data_.eot_id < 0) {
    for (std::string_view name : kEotNames) {
      if (const int32_t id = FindToken(name); id >= 0) {
        data_.eot_id = id;
        types_[id] = TokenType::kControl;
        break;
      }
    }
  }
  for (int32_t id : {data_.eos_id, data_.eot_id}) {
    if (id >= 0) eog_ids_.push_back(id);
  }
  for (std::string_view name : kEogNames) {
    if (const int32_t id = FindToken(name); id >= 0) {
      eog_ids_.push_back(id);
      types_[id] = TokenType::kControl;
    }
  }
}

void Tokenizer::CollectSpecialTokens() {
  for (size_t i = 0; i < types_.size(); ++i) {
    const TokenType t = types_[i];
    if ((t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown) &&
        !data_.tokens[i].empty()) {
      special_ids_.push_back(static_cast<int32_t>(i));
    }
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(), [this](int32_t a, int32_t b) {
    return data_.tokens[a].size() > data_.tokens[b].size();
  });
}

bool Tokenizer::RStrips(int32_t id) const {
  if (!data_.rstrip_special) return false;
  const std::string& t = data_.tokens[id];
  return t != "<unk>" && t != "<s>" && t != "<|endoftext|>";
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return TokenType::kUndefined;
  return types_[id];
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return id >= 0 && std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

int32_t Tokenizer::FindToken(std::string_view text) const {
  const auto it = token_to_id_.find(text);
  return it == token_to_id_.end() ? -1 : it->second;
}

std::vector<Tokenizer::Fragment> Tokenizer::SplitSpecial(std::string_view text,
                                                         bool parse_special) const {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({text, -1});
  std::vector<Fragment> next;
  for (int32_t id : special_ids_) {
    const TokenType t = types_[id];
    if (!parse_special && t != TokenType::kUserDefined) continue;
    const std::string_view special = data_.tokens[id];
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0;
      for (size_t hit; (hit = f.text.find(special, pos)) != std::string_view::npos;) {
        if (hit > pos) next.push_back({f.text.substr(pos, hit - pos), -1});
        next.push_back({special, id});
        pos = hit + special.size();
        if (RStrips(id)) {
          while (pos < f.text.size() && std::isspace(static_cast<unsigned char>(f.text[pos]))) {
            ++pos;
          }
        }
      }
      if (pos < f.text.size()) next.push_back({f.text.substr(pos), -1});
    }
    fragments.swap(next);
  }
  return fragments;
}

std::string Tokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return "";
  const std::string& text = data_.tokens[id];
  switch (types_[id]) {
    case TokenType::kControl:
    case TokenType::kUnknown: return render_special ? text : "";
    case TokenType::kUserDefined: return text;
    case TokenType::kNormal: return NormalPiece(text);
    case TokenType::kByte: {
      const int byte = ParseByteToken(text);
      return byte >= 0 ? std::string(1, static_cast<char>(byte)) : NormalPiece(text);
    }
    case TokenType::kUndefined:
    case TokenType::kUnused: return "";
  }
  return "";
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  bool strip = strips_leading_space_;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string piece = TokenToPiece(ids[i], render_special);
    // A leading BOS does not take the strip unless it is shown: "<s> Once", as llama.cpp.
    if (strip && !(i == 0 && ids[i] == data_.bos_id && !render_special)) {
      if (!piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      strip = false;
    }
    out += piece;
  }
  return out;
}

std::string StreamDecoder::Push(int32_t id) {
  std::string piece = tok_.TokenToPiece(id);
  if (strip_pending_ && !(first_ && id == tok_.bos())) {
    if (!piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip_pending_ = false;
  }
  first_ = false;
  pending_ += piece;
  return Drain(/*final=*/false);
}

std::string StreamDecoder::Flush() { return Drain(/*final=*/true); }

std::string StreamDecoder::Drain(bool final) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    size_t len = 1;
    const Utf8Check c = CheckUtf8(pending_, pos, &len);
    if (c == Utf8Check::kValid) {
      out.append(pending_, pos, len);
    } else if (c == Utf8Check::kInvalid) {
      out += kReplacement;
    } else if (!final) {
      break;  // the rest of the character may come with the next token
    } else {
      out += kReplacement;
      len = pending_.size() - pos;  // an incomplete tail at the end: one U+FFFD
    }
    pos += len;
  }
  pending_.erase(0, pos);
  return out;
}

}  // namespace tandem::model
