#include "model/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "model/unicode.h"

namespace tandem::model {
namespace {

// The patterns are llama.cpp's (src/llama-vocab.cpp), with "(?i:'s|...)" spelled out as
// "'[sS]|..." so that PCRE2's Unicode case folding cannot match e.g. U+017F as 's'.
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|)"
    R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|)"
    R"(\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::vector<PreTokenizerSpec>& Specs() {
  static const std::vector<PreTokenizerSpec> specs = {
      {{"default", ""},
       {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"},
       false,
       false},
      {{"gpt-2", "phi-2", "mpt", "olmo", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de"},
       {kGpt2},
       false,
       false},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}, {kLlama3}, true, true},
      {{"dbrx", "smaug-bpe"}, {kLlama3}, false, false},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {kQwen2}, false, false},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {R"(\p{N})", kGpt2},
       false,
       false},
      {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false, false},
  };
  return specs;
}

// llama.cpp's whitespace is the Unicode White_Space property. PCRE2's \s in UCP mode also
// takes U+180E, so \s and \S are spelled out.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F})"
    R"(\x{3000})";

std::string ExpandWhitespace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
      } else if (e == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpace) + "]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
    } else if (c == ']' && in_class) {
      in_class = false;
    }
    out += c;
  }
  return out;
}

// The text as llama.cpp sees it (malformed sequences as U+FFFD, overlong forms re-encoded),
// plus a copy for matching where surrogates, which PCRE2 rejects, read as U+FFFD.
void Sanitize(std::string_view text, std::string* clean, std::string* match) {
  clean->reserve(text.size());
  bool has_surrogate = false;
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 1;
    const uint32_t cp = DecodeUtf8Lenient(text, pos, &len);
    has_surrogate |= cp >= 0xD800 && cp <= 0xDFFF;
    AppendUtf8(cp, clean);
    pos += len;
  }
  if (!has_surrogate) return;
  for (size_t pos = 0; pos < clean->size();) {
    size_t len = 1;
    const uint32_t cp = DecodeUtf8Lenient(*clean, pos, &len);
    AppendUtf8(cp >= 0xD800 && cp <= 0xDFFF ? kReplacementChar : cp, match);
    pos += len;
  }
}

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec) : spec_(spec) {}
PreTokenizer::~PreTokenizer() = default;

const PreTokenizerSpec* FindPreTokenizerSpec(std::string_view pre) {
  for (const PreTokenizerSpec& spec : Specs()) {
    for (std::string_view name : spec.names) {
      if (name == pre) return &spec;
    }
  }
  return nullptr;
}

std::string SupportedPreTokenizers() {
  std::string out;
  for (const PreTokenizerSpec& spec : Specs()) {
    for (std::string_view name : spec.names) {
      if (name.empty()) continue;
      if (!out.empty()) out += ", ";
      out += name;
    }
  }
  return out;
}

StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::Create(std::string_view pre) {
  const PreTokenizerSpec* spec = FindPreTokenizerSpec(pre);
  if (spec == nullptr) {
    return Unimplemented("tokenizer.ggml.pre '" + std::string(pre) +
                         "' is not supported (supported: " + SupportedPreTokenizers() + ")");
  }
  std::unique_ptr<PreTokenizer> p(new PreTokenizer(*spec));
  for (std::string_view pattern : spec->patterns) {
    const std::string expanded = ExpandWhitespace(pattern);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto c = std::make_unique<Compiled>();
    c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                            PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr);
    if (c->code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return Internal("pre-tokenizer '" + std::string(pre) + "': PCRE2 rejects pattern at " +
                      std::to_string(error_offset) + ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // optional: the interpreter is the fallback
    p->compiled_.push_back(std::move(c));
  }
  return p;
}

void PreTokenizer::SplitPiece(size_t i, std::string_view piece,
                              std::vector<size_t>* lengths) const {
  pcre2_code* code = compiled_[i]->code;
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
  size_t start = 0, prev_end = 0;
  uint32_t options = 0;  // the first call checks the UTF-8, later ones need not
  while (md != nullptr && start < piece.size()) {
    int rc = pcre2_match(code, subject, piece.size(), start, options, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, piece.size(), start, options | PCRE2_NO_JIT, md, nullptr);
    }
    if (rc < 0) break;  // no match, or a limit: the rest is one piece
    options = PCRE2_NO_UTF_CHECK;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // no pattern here matches empty, but never loop on one
      if (end >= piece.size()) break;
      start = end + Utf8SeqLen(static_cast<uint8_t>(piece[end]));
      continue;
    }
    if (begin > prev_end) lengths->push_back(begin - prev_end);
    lengths->push_back(end - begin);
    prev_end = start = end;
  }
  if (prev_end < piece.size()) lengths->push_back(piece.size() - prev_end);
  pcre2_match_data_free(md);
}

std::vector<std::string> PreTokenizer::Split(std::string_view text) const {
  std::string clean, match;
  Sanitize(text, &clean, &match);
  const std::string_view subject = match.empty() ? clean : match;

  std::vector<size_t> lengths;  // bytes of each piece, in order
  if (!subject.empty()) lengths.push_back(subject.size());
  for (size_t i = 0; i < compiled_.size(); ++i) {
    std::vector<size_t> next;
    next.reserve(lengths.size() * 2);
    size_t offset = 0;
    for (size_t len : lengths) {
      SplitPiece(i, subject.substr(offset, len), &next);
      offset += len;
    }
    lengths = std::move(next);
  }

  std::vector<std::string> words;
  words.reserve(lengths.size());
  size_t offset = 0;
  for (size_t len : lengths) {
    words.push_back(ByteLevelEncode(std::string_view(clean).substr(offset, len)));
    offset += len;
  }
  return words;
}

}  // namespace tandem::model
