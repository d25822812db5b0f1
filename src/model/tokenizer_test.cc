// Tokenizer tests: llama.cpp's tokenizer test vectors (testdata/vocab, every case must match),
// round trips, stories260K, streaming decode, special tokens and bad vocabularies.
#include "model/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "model/gguf.h"
#include "model/pretokenizer.h"
#include "model/unicode.h"

namespace tandem::model {
namespace {

const std::string kData = TANDEM_TESTDATA_DIR;
const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD

// Tokenizers are loaded once per file: the Qwen2 vocabulary takes a moment.
const Tokenizer* Load(const std::string& path) {
  static std::map<std::string, std::unique_ptr<Tokenizer>>* cache =
      new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto it = cache->find(path);
  if (it != cache->end()) return it->second.get();
  auto file = GgufFile::Open(path);
  if (!file.ok()) return nullptr;
  auto vocab = ReadVocab(**file);
  EXPECT_TRUE(vocab.ok()) << vocab.status().ToString();
  if (!vocab.ok()) return nullptr;
  auto tok = Tokenizer::Create(std::move(*vocab));
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  if (!tok.ok()) return nullptr;
  const Tokenizer* loaded = tok->get();
  (*cache)[path] = std::move(*tok);
  return loaded;
}

const Tokenizer* LoadVocab(const std::string& name) {
  return Load(kData + "/vocab/ggml-vocab-" + name + ".gguf");
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

// As llama.cpp's tests/test-tokenizer-0.cpp reads them: the .inp file split at
// "\n__ggml_vocab_test__\n", one line of ids per case in the .out file.
std::vector<VocabCase> ReadCases(const std::string& name) {
  const std::string stem = kData + "/vocab/ggml-vocab-" + name + ".gguf";
  const std::string inp = ReadFile(stem + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(stem + ".out");
  std::vector<VocabCase> cases;
  size_t i = 0;
  for (std::string line; std::getline(out, line); ++i) {
    VocabCase c;
    c.text = i < texts.size() ? texts[i] : "";
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(texts.size(), cases.size()) << name << ": .inp and .out disagree on the count";
  return cases;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

class TokenizerVocabTest : public testing::TestWithParam<std::string> {};

TEST_P(TokenizerVocabTest, MatchesLlamaCppTestVectors) {
  const Tokenizer* tok = LoadVocab(GetParam());
  if (tok == nullptr) GTEST_SKIP() << "vocabulary not in testdata (see testdata/README.md)";
  const std::vector<VocabCase> cases = ReadCases(GetParam());
  ASSERT_GT(cases.size(), 30u);
  int passed = 0;
  for (const VocabCase& c : cases) {
    const std::vector<int32_t> got = tok->Encode(c.text, /*add_special=*/false,
                                                 /*parse_special=*/false);
    EXPECT_EQ(Ids(got), Ids(c.ids)) << "text: '" << c.text << "'";
    passed += got == c.ids;
  }
  EXPECT_EQ(passed, static_cast<int>(cases.size()));
  std::printf("%s: %d/%zu cases match\n", GetParam().c_str(), passed, cases.size());
}

TEST_P(TokenizerVocabTest, DecodeInvertsEncode) {
  const Tokenizer* tok = LoadVocab(GetParam());
  if (tok == nullptr) GTEST_SKIP() << "vocabulary not in testdata";
  for (const VocabCase& c : ReadCases(GetParam())) {
    EXPECT_EQ(tok->Decode(tok->Encode(c.text, false, false)), c.text);
    EXPECT_EQ(tok->Decode(tok->Encode(c.text, true, false)), c.text);
    StreamDecoder stream(*tok);
    std::string streamed;
    for (int32_t id : tok->Encode(c.text, true, false)) streamed += stream.Push(id);
    streamed += stream.Flush();
    EXPECT_EQ(streamed, c.text);
  }
}

// Encode is const and shares the compiled regexes: threads must agree (llama.cpp's test runs
// its cases on every core too).
TEST_P(TokenizerVocabTest, ConcurrentEncodeAgrees) {
  const Tokenizer* tok = LoadVocab(GetParam());
  if (tok == nullptr) GTEST_SKIP() << "vocabulary not in testdata";
  const std::vector<VocabCase> cases = ReadCases(GetParam());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (const VocabCase& c : cases)
          mismatches[t] += tok->Encode(c.text, false, false) != c.ids;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(mismatches.size(), 0));
}

// llama-bpe and llama-spm run when their (Meta-licensed) vocabularies are placed in testdata.
INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerVocabTest,
                         testing::Values("qwen2", "gpt-2", "phi-3", "llama-bpe", "llama-spm"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(TokenizerStories, EncodesPromptLikeLlamaCpp) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = tok->Encode("Once upon a time", true, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->Decode(ids), "Once upon a time");
  EXPECT_EQ(tok->Decode(ids, /*render_special=*/true), "<s> Once upon a time");
  EXPECT_EQ(tok->Encode("", true, false), (std::vector<int32_t>{1}));
  EXPECT_TRUE(tok->Encode("", false, false).empty());
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->IsEndOfGeneration(2));
  EXPECT_FALSE(tok->IsEndOfGeneration(1));
  EXPECT_FALSE(tok->IsEndOfGeneration(-1));
}

// Pieces and text of llama.cpp's greedy run (testdata/reference, rendered with special=true).
TEST(TokenizerStories, PiecesMatchLlamaCppReference) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  std::ifstream f(kData + "/reference/stories260K-F32.greedy32.json");
  const auto ref = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(ref.is_discarded());
  const auto prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
  const auto generated = ref["generated_ids"].get<std::vector<int32_t>>();
  const auto pieces = ref["generated_pieces"].get<std::vector<std::string>>();
  ASSERT_EQ(generated.size(), pieces.size());
  EXPECT_EQ(tok->Encode(ref["prompt"].get<std::string>(), true, false), prompt);
  for (size_t i = 0; i < generated.size(); ++i) {
    EXPECT_EQ(tok->TokenToPiece(generated[i]), pieces[i]) << "token " << generated[i];
  }
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), generated.begin(), generated.end());
  const std::string text = ref["text"].get<std::string>();
  EXPECT_EQ(tok->Decode(all, /*render_special=*/true), text);
  EXPECT_EQ(tok->Decode(all), text.substr(std::string("<s> ").size()));
}

TEST(TokenizerStories, ByteFallbackKeepsEveryByte) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  const std::string text = "caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF\xFE end";  // é, emoji, bad bytes
  const std::vector<int32_t> ids = tok->Encode(text, true, false);
  EXPECT_EQ(tok->Decode(ids), text);
  EXPECT_EQ(tok->token_type(tok->FindToken("<0xF0>")), TokenType::kByte);
  EXPECT_EQ(tok->TokenToPiece(tok->FindToken("<0x0A>")), "\n");
}

TEST(TokenizerStream, HoldsBackAnEmojiSplitAcrossByteTokens) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = tok->Encode("\xF0\x9F\x98\x80", false, false);
  // "▁" first (the space prefix), then the four bytes of U+1F600 as <0xXX> tokens.
  ASSERT_EQ(ids.size(), 5u);
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(tok->token_type(ids[i]), TokenType::kByte);
  }
  StreamDecoder stream(*tok);
  EXPECT_EQ(stream.Push(tok->bos()), "");
  EXPECT_EQ(stream.Push(ids[0]), "");  // the prefix space is dropped
  EXPECT_EQ(stream.Push(ids[1]), "");
  EXPECT_EQ(stream.Push(ids[2]), "");
  EXPECT_EQ(stream.Push(ids[3]), "");
  EXPECT_EQ(stream.Push(ids[4]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(stream.Flush(), "");
}

TEST(TokenizerStream, ReplacesInvalidAndUnfinishedSequences) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  const int32_t f0 = tok->FindToken("<0xF0>");
  const int32_t ff = tok->FindToken("<0xFF>");
  const int32_t a = tok->FindToken("a");
  ASSERT_GE(f0, 0);
  ASSERT_GE(ff, 0);
  ASSERT_GE(a, 0);
  StreamDecoder stream(*tok);
  EXPECT_EQ(stream.Push(ff), kFffd);  // never valid: replaced at once
  EXPECT_EQ(stream.Push(a), "a");
  EXPECT_EQ(stream.Push(f0), "");          // may still complete
  EXPECT_EQ(stream.Push(a), kFffd + "a");  // did not
  EXPECT_EQ(stream.Push(f0), "");
  EXPECT_EQ(stream.Flush(), kFffd);
  EXPECT_EQ(stream.Flush(), "");
}

TEST(TokenizerStream, KeepsSpacesAfterTheFirstPiece) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = tok->Encode("Once upon a time", true, false);
  StreamDecoder stream(*tok);
  std::string text;
  for (int32_t id : ids) text += stream.Push(id);
  EXPECT_EQ(text + stream.Flush(), "Once upon a time");
}

TEST(TokenizerPieces, OutOfRangeIdsGiveNothing) {
  const Tokenizer* tok = Load(kData + "/stories260K.gguf");
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->TokenToPiece(-1), "");
  EXPECT_EQ(tok->TokenToPiece(tok->n_vocab()), "");
  EXPECT_EQ(tok->TokenToPiece(INT32_MAX, true), "");
  EXPECT_EQ(tok->Decode({-5, 1 << 30}), "");
  EXPECT_EQ(tok->token_type(-1), TokenType::kUndefined);
  StreamDecoder stream(*tok);
  EXPECT_EQ(stream.Push(-3), "");
  EXPECT_EQ(tok->TokenToPiece(1), "");
  EXPECT_EQ(tok->TokenToPiece(1, true), "<s>");
  EXPECT_EQ(tok->FindToken("no such token"), -1);
}

TEST(TokenizerSpecial, Qwen2ChatTokensNeedParseSpecial) {
  const Tokenizer* tok = LoadVocab("qwen2");
  ASSERT_NE(tok, nullptr);
  const int32_t im_start = tok->FindToken("<|im_start|>");
  const int32_t im_end = tok->FindToken("<|im_end|>");
  ASSERT_EQ(im_start, 151644);
  ASSERT_EQ(im_end, 151645);
  const std::string text = "<|im_start|>user\nHello<|im_end|>\n";
  const std::vector<int32_t> parsed = tok->Encode(text, false, true);
  ASSERT_GE(parsed.size(), 4u);
  EXPECT_EQ(parsed.front(), im_start);
  EXPECT_EQ(parsed[parsed.size() - 2], im_end);
  EXPECT_EQ(tok->Decode(parsed, /*render_special=*/true), text);
  EXPECT_EQ(tok->Decode(parsed), "user\nHello\n");

  const std::vector<int32_t> plain = tok->Encode(text, false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_start), 0);
  EXPECT_EQ(tok->Decode(plain), text);

  // User-defined tokens are matched even without parse_special (llama.cpp does the same).
  const int32_t pad = tok->FindToken("[PAD151646]");
  ASSERT_EQ(tok->token_type(pad), TokenType::kUserDefined);
  const std::vector<int32_t> with_pad = tok->Encode("a[PAD151646]b", false, false);
  EXPECT_EQ(std::count(with_pad.begin(), with_pad.end(), pad), 1);
  EXPECT_EQ(tok->Decode(with_pad), "a[PAD151646]b");
}

TEST(TokenizerSpecial, EndOfTurnIsFoundByName) {
  const Tokenizer* qwen = LoadVocab("qwen2");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->eot(), 151645);  // <|im_end|>
  EXPECT_TRUE(qwen->IsEndOfGeneration(151645));
  EXPECT_TRUE(qwen->IsEndOfGeneration(151643));  // <|endoftext|>, EOS
  EXPECT_FALSE(qwen->IsEndOfGeneration(151644));
  EXPECT_FALSE(qwen->IsEndOfGeneration(0));
  EXPECT_FALSE(qwen->vocab().add_bos);

  const Tokenizer* phi = LoadVocab("phi-3");
  ASSERT_NE(phi, nullptr);
  EXPECT_EQ(phi->eot(), 32007);  // <|end|>
  EXPECT_TRUE(phi->IsEndOfGeneration(32000));
  EXPECT_TRUE(phi->IsEndOfGeneration(32007));
  EXPECT_FALSE(phi->IsEndOfGeneration(32001));
  const std::vector<int32_t> ids = phi->Encode("<|user|>\nHi<|end|>", true, true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 32010);
  EXPECT_EQ(ids.back(), 32007);

  const Tokenizer* gpt2 = LoadVocab("gpt-2");
  ASSERT_NE(gpt2, nullptr);
  EXPECT_EQ(gpt2->bos(), 50256);
  EXPECT_TRUE(gpt2->IsEndOfGeneration(50256));
}

TEST(TokenizerBpe, MalformedUtf8BecomesReplacementCharacters) {
  const Tokenizer* tok = LoadVocab("gpt-2");
  ASSERT_NE(tok, nullptr);
  // As llama.cpp: each malformed byte is read as U+FFFD before pre-tokenizing.
  const std::string text = std::string("a\xFF") + "b\xC3";
  EXPECT_EQ(tok->Decode(tok->Encode(text, false, false)), "a" + kFffd + "b" + kFffd);
  EXPECT_EQ(tok->Decode(tok->Encode("\xED\xA0\x80", false, false)), "\xED\xA0\x80");
  for (std::string bad : {"\x80", "\xF8\x88\x80\x80\x80", "\xF4\x90\x80\x80", "\xC0\x80x"}) {
    const std::vector<int32_t> ids = tok->Encode(bad, false, false);
    EXPECT_FALSE(ids.empty());
  }
}

TEST(TokenizerPreTokenizer, Llama3GroupsDigitsByThree) {
  auto pre = PreTokenizer::Create("llama-bpe");
  ASSERT_TRUE(pre.ok()) << pre.status().ToString();
  EXPECT_TRUE((*pre)->spec().ignore_merges);
  std::vector<std::string> want = {"333", "333", "3"};
  for (const char* w : {" ok", "'S", "  ", " x", "\n\n"}) want.push_back(ByteLevelEncode(w));
  EXPECT_EQ((*pre)->Split("3333333 ok'S   x\n\n"), want);
  auto qwen = PreTokenizer::Create("qwen2");
  ASSERT_TRUE(qwen.ok());
  EXPECT_EQ((*qwen)->Split("123").size(), 3u);
  auto gpt2 = PreTokenizer::Create("gpt-2");
  ASSERT_TRUE(gpt2.ok());
  EXPECT_EQ((*gpt2)->Split("12345 abc").size(), 2u);
  // U+180E is not White_Space (PCRE2's \s would take it, and cut the pair in two).
  EXPECT_EQ((*gpt2)
                ->Split("x\xE1\xA0\x8E\xE1\xA0\x8E"
                        "y")
                .size(),
            3u);
}

TEST(TokenizerPreTokenizer, DefaultCascadesFourPatterns) {
  auto pre = PreTokenizer::Create("");
  ASSERT_TRUE(pre.ok());
  // "[\p{P}...]+" first, then GPT-2's pattern, then digit runs, then groups of three.
  const std::vector<std::string> want = {"Hi", ",", ByteLevelEncode(" "), "123", "4"};
  EXPECT_EQ((*pre)->Split("Hi, 1234"), want);
}

bool IsValidUtf8(std::string_view s) {
  for (size_t pos = 0, len = 1; pos < s.size(); pos += len) {
    if (CheckUtf8(s, pos, &len) != Utf8Check::kValid) return false;
  }
  return true;
}

// Random bytes, with a bias towards the characters of special tokens, never break the
// tokenizers; the streamed text is always valid UTF-8 and SPM's byte fallback loses nothing.
TEST(TokenizerRobustness, RandomBytes) {
  std::mt19937 rng(1234);
  for (const char* name : {"qwen2", "gpt-2", "phi-3"}) {
    const Tokenizer* tok = LoadVocab(name);
    ASSERT_NE(tok, nullptr);
    for (int iter = 0; iter < 300; ++iter) {
      std::string text(rng() % 48, '\0');
      for (char& c : text)
        c = static_cast<char>(rng() % 3 == 0 ? "<|>[]s/ \n\xE2"[rng() % 10] : rng());
      for (bool parse_special : {false, true}) {
        const std::vector<int32_t> ids = tok->Encode(text, true, parse_special);
        StreamDecoder stream(*tok);
        std::string streamed;
        for (int32_t id : ids) {
          ASSERT_GE(id, 0);
          ASSERT_LT(id, tok->n_vocab());
          streamed += stream.Push(id);
        }
        streamed += stream.Flush();
        EXPECT_TRUE(IsValidUtf8(streamed));
        if (tok->vocab().model == "llama" && !parse_special) {
          EXPECT_EQ(tok->Decode(ids), text);
        }
      }
    }
  }
}

// A tiny byte-level BPE vocabulary: the 256 byte tokens, merges "a b" and "ab c".
VocabData TinyBpe() {
  VocabData d;
  d.model = "gpt2";
  d.pre = "gpt-2";
  for (int b = 0; b < 256; ++b) d.tokens.push_back(ByteToUnicode(static_cast<uint8_t>(b)));
  d.tokens.push_back("ab");
  d.tokens.push_back("abc");
  d.tokens.push_back("<|endoftext|>");
  d.token_types.assign(d.tokens.size(), 1);
  d.token_types.back() = 3;
  d.merges = {"a b", "ab c"};
  d.eos_id = d.bos_id = static_cast<int32_t>(d.tokens.size()) - 1;
  d.add_space_prefix = false;
  return d;
}

TEST(TokenizerBpe, MergesByRank) {
  auto tok = Tokenizer::Create(TinyBpe());
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("abc", false, false), (std::vector<int32_t>{257}));
  EXPECT_EQ((*tok)->Encode("abd", false, false), (std::vector<int32_t>{256, 'd'}));
  EXPECT_EQ((*tok)->Encode("abc<|endoftext|>", false, true), (std::vector<int32_t>{257, 258}));
  EXPECT_EQ((*tok)->Decode({257, 258}), "abc");
  EXPECT_EQ((*tok)->eot(), 258);
}

TEST(TokenizerFingerprint, DependsOnTheVocabulary) {
  auto a = Tokenizer::Create(TinyBpe());
  auto b = Tokenizer::Create(TinyBpe());
  VocabData changed = TinyBpe();
  changed.merges = {"ab c", "a b"};
  auto c = Tokenizer::Create(std::move(changed));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->Fingerprint(), (*b)->Fingerprint());
  EXPECT_NE((*a)->Fingerprint(), (*c)->Fingerprint());
  const Tokenizer* qwen = LoadVocab("qwen2");
  const Tokenizer* gpt2 = LoadVocab("gpt-2");
  ASSERT_TRUE(qwen && gpt2);
  EXPECT_NE(qwen->Fingerprint(), gpt2->Fingerprint());
}

TEST(TokenizerCreate, RejectsBadVocabularies) {
  {
    VocabData d = TinyBpe();
    d.scores = {1.0f};
    EXPECT_EQ(Tokenizer::Create(std::move(d)).status().code(), StatusCode::kInvalidArgument);
  }
  {
    VocabData d = TinyBpe();
    d.token_types.pop_back();
    EXPECT_EQ(Tokenizer::Create(std::move(d)).status().code(), StatusCode::kInvalidArgument);
  }
  {
    VocabData d = TinyBpe();
    d.bos_id = static_cast<int32_t>(d.tokens.size());
    const Status st = Tokenizer::Create(std::move(d)).status();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("bos_id"), std::string::npos) << st.message();
  }
  {
    VocabData d = TinyBpe();
    d.unk_id = -2;
    EXPECT_EQ(Tokenizer::Create(std::move(d)).status().code(), StatusCode::kInvalidArgument);
  }
  {
    VocabData d = TinyBpe();
    d.bos_id = -1;
    d.add_bos = true;
    EXPECT_EQ(Tokenizer::Create(std::move(d)).status().code(), StatusCode::kInvalidArgument);
  }
  {
    VocabData d = TinyBpe();
    d.tokens.clear();
    d.token_types.clear();
    d.bos_id = d.eos_id = -1;
    EXPECT_EQ(Tokenizer::Create(std::move(d)).status().code(), StatusCode::kInvalidArgument);
  }
  {
    VocabData d = TinyBpe();
    d.model = "bert";
    const Status st = Tokenizer::Create(std::move(d)).status();
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
    EXPECT_NE(st.message().find("'bert'"), std::string::npos) << st.message();
  }
  {
    VocabData d = TinyBpe();
    d.pre = "klingon";
    const Status st = Tokenizer::Create(std::move(d)).status();
    EXPECT_EQ(st.code(), StatusCode::kUnimplemented);
    EXPECT_NE(st.message().find("'klingon'"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("qwen2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("llama-bpe"), std::string::npos) << st.message();
  }
}

TEST(TokenizerSpm, WithoutByteTokensFallsBackToUnk) {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>",
              "<s>",
              "</s>",
              "\xE2\x96\x81",
              "a",
              "\xE2\x96\x81"
              "a"};
  d.scores = {0, 0, 0, -1, -2, -0.5f};
  d.token_types = {2, 3, 3, 1, 1, 1};
  d.unk_id = 0, d.bos_id = 1, d.eos_id = 2;
  d.add_bos = true;
  auto tok = Tokenizer::Create(std::move(d));
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ((*tok)->Encode("a a", true, false), (std::vector<int32_t>{1, 5, 5}));
  EXPECT_EQ((*tok)->Encode("a\xC3\xA9", false, false), (std::vector<int32_t>{5, 0}));
  EXPECT_EQ((*tok)->Decode({1, 5, 5}), "a a");
  EXPECT_EQ((*tok)->Decode({5, 5}), "a a");
}

}  // namespace
}  // namespace tandem::model
