#include "model/model_maker.h"

#include <cmath>
#include <cstring>

#include "base/hash.h"
#include "kernels/ref/quant.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"

namespace tandem::model {
namespace {

using kernels::WeightType;

// splitmix64: a tiny, fast, well-mixed generator; enough for random weights.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float Uniform() { return static_cast<float>(Next() >> 40) * (1.0f / (1u << 24)) * 2.0f - 1.0f; }
};

uint64_t HashName(const std::string& s) {
  Fnv1a h;
  h.Bytes(s.data(), s.size());
  return h.value();
}

// Uniform weights with standard deviation `stddev`, quantized row by row.
GgufWriter::FillFn RandomFill(const std::string& name, WeightType type, uint64_t cols, float stddev,
                              uint64_t seed) {
  return [=](std::span<uint8_t> out) -> Status {
    Rng rng{seed ^ HashName(name)};
    const float a = stddev * std::sqrt(3.0f);
    const uint64_t row_bytes = kernels::RowBytes(type, cols);
    std::vector<float> row(cols);
    for (uint64_t off = 0; off < out.size(); off += row_bytes) {
      for (auto& x : row) x = a * rng.Uniform();
      RETURN_IF_ERROR(kernels::ref::QuantizeRow(type, row.data(), out.data() + off, cols));
    }
    return OkStatus();
  };
}

GgufWriter::FillFn ConstFill(std::vector<float> values) {
  return [values = std::move(values)](std::span<uint8_t> out) -> Status {
    std::memcpy(out.data(), values.data(), out.size());
    return OkStatus();
  };
}

// Llama 3.1 RoPE frequency divisors (its rope_scaling with low 1, high 4, original 8192).
std::vector<float> Llama3RopeFactors(const ModelShape& s, int n_rot) {
  constexpr double kLow = 1.0, kHigh = 4.0, kOrigCtx = 8192.0;
  std::vector<float> f(n_rot / 2);
  for (int i = 0; i < n_rot / 2; ++i) {
    const double freq = std::pow(static_cast<double>(s.rope_base), -2.0 * i / n_rot);
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < kOrigCtx / kHigh) {
      f[i] = 1.0f;
    } else if (wavelen > kOrigCtx / kLow) {
      f[i] = s.rope_llama3_factor;
    } else {
      const double smooth = (kOrigCtx / wavelen - kLow) / (kHigh - kLow);
      f[i] = static_cast<float>(1.0 / ((1 - smooth) / s.rope_llama3_factor + smooth));
    }
  }
  return f;
}

// A byte-fallback SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens, printable ASCII
// with and without the word-start mark, then unused fillers.
void SyntheticVocab(GgufWriter& w, int n_vocab) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.push_back(buf);
    types.push_back(6);
  }
  for (int c = 33; c < 127; ++c) {
    tokens.push_back(std::string(1, static_cast<char>(c)));
    tokens.push_back("\xe2\x96\x81" + std::string(1, static_cast<char>(c)));
    types.push_back(1);
    types.push_back(1);
  }
  tokens.push_back("\xe2\x96\x81");
  types.push_back(1);
  while (static_cast<int>(tokens.size()) < n_vocab) {
    tokens.push_back("<unused" + std::to_string(tokens.size()) + ">");
    types.push_back(5);
  }
  tokens.resize(n_vocab);
  types.resize(n_vocab);
  std::vector<float> scores(n_vocab);
  for (int i = 0; i < n_vocab; ++i) scores[i] = -static_cast<float>(i);
  w.Set("tokenizer.ggml.model", GgufValue::String("llama"));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(tokens)));
  w.Set("tokenizer.ggml.scores", GgufValue::F32Array(scores));
  w.Set("tokenizer.ggml.token_type", GgufValue::I32Array(types));
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(1));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(2));
  w.Set("tokenizer.ggml.unknown_token_id", GgufValue::U32(0));
}

// general.file_type as llama.cpp numbers it (llama_ftype), not the tensor type's number.
uint32_t FileType(WeightType type, QuantMix mix) {
  if (mix == QuantMix::kMedium) return type == WeightType::kQ5_K ? 17 : 15;
  switch (type) {
    case WeightType::kF32: return 0;
    case WeightType::kF16: return 1;
    case WeightType::kQ4_0: return 2;
    case WeightType::kQ8_0: return 7;
    case WeightType::kQ4_K: return 14;  // Q4_K_S: all Q4_K
    case WeightType::kQ5_0: return 8;
    case WeightType::kQ5_1: return 9;
    case WeightType::kQ5_K: return 16;  // Q5_K_S
    case WeightType::kQ6_K: return 18;
    case WeightType::kBF16: return 32;
    default: return 1;
  }
}

// llama-quantize's choice of layers that get more bits in the _M mixes.
bool UseMoreBits(int layer, int n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

void SetHyperparameters(GgufWriter& w, const ModelShape& s, WeightType type, QuantMix mix) {
  const std::string a = s.arch + ".";
  w.Set("general.architecture", GgufValue::String(s.arch));
  w.Set("general.name", GgufValue::String(s.name + " (random weights)"));
  w.Set("general.file_type", GgufValue::U32(FileType(type, mix)));
  w.Set(a + "block_count", GgufValue::U32(s.n_layers));
  w.Set(a + "embedding_length", GgufValue::U32(s.d_model));
  w.Set(a + "attention.head_count", GgufValue::U32(s.n_heads));
  w.Set(a + "attention.head_count_kv", GgufValue::U32(s.n_kv_heads));
  w.Set(a + "feed_forward_length", GgufValue::U32(s.n_ff));
  w.Set(a + "context_length", GgufValue::U32(static_cast<uint32_t>(s.n_ctx)));
  w.Set(a + "attention.layer_norm_rms_epsilon", GgufValue::F32(1e-5f));
  w.Set(a + "rope.freq_base", GgufValue::F32(s.rope_base));
  w.Set(a + "rope.dimension_count", GgufValue::U32(s.d_model / s.n_heads));
}

}  // namespace

const std::vector<ModelShape>& BuiltinShapes() {
  static const std::vector<ModelShape> kShapes = {
      // name, arch, layers, d, heads, kv heads, ff, vocab, ctx, rope base, llama3 factor, tied
      {"stories-like", "llama", 5, 64, 8, 4, 172, 512, 512, 10000.0f, 0, false},
      // demo: two heads sharing one KV head, a small vocabulary so the LM head stays cheap
      {"demo", "llama", 4, 128, 2, 1, 512, 512, 8192, 10000.0f, 0, false},
      {"tiny", "llama", 8, 256, 4, 1, 896, 32000, 16384, 10000.0f, 0, false},
      {"llama-3.2-1b", "llama", 16, 2048, 32, 8, 8192, 128256, 131072, 500000.0f, 32, true},
      {"llama-3.1-8b", "llama", 32, 4096, 32, 8, 14336, 128256, 131072, 500000.0f, 8, false},
      {"qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 4864, 151936, 32768, 1000000.0f, 0, true},
      {"mistral-7b", "llama", 32, 4096, 32, 8, 14336, 32768, 32768, 1000000.0f, 0, false},
  };
  return kShapes;
}

StatusOr<ModelShape> FindShape(std::string_view name) {
  std::string names;
  for (const auto& s : BuiltinShapes()) {
    if (s.name == name) return s;
    names += (names.empty() ? "" : ", ") + s.name;
  }
  return InvalidArgument("unknown shape '" + std::string(name) + "' (known: " + names + ")");
}

std::optional<ModelWeights> ParseModelWeights(std::string_view name) {
  const bool medium = name.size() > 2 && (name.substr(name.size() - 2) == "_M" ||
                                          name.substr(name.size() - 2) == "_m");
  const auto type = kernels::ParseWeightType(medium ? name.substr(0, name.size() - 2) : name);
  if (!type) return std::nullopt;
  if (medium && *type != WeightType::kQ4_K && *type != WeightType::kQ5_K) return std::nullopt;
  return ModelWeights{*type, medium ? QuantMix::kMedium : QuantMix::kUniform};
}

Status MakeModel(const MakeModelOptions& opts, const std::string& path) {
  const ModelShape& s = opts.shape;
  GgufWriter w;
  if (opts.mix == QuantMix::kMedium && opts.type != WeightType::kQ4_K &&
      opts.type != WeightType::kQ5_K) {
    return InvalidArgument("the _M mixes are made of Q4_K or Q5_K weights");
  }
  SetHyperparameters(w, s, opts.type, opts.mix);
  int n_vocab = s.n_vocab;
  if (!opts.vocab_path.empty()) {
    ASSIGN_OR_RETURN(auto vocab, GgufFile::Open(opts.vocab_path));
    ASSIGN_OR_RETURN(auto tokens, vocab->GetStringArray("tokenizer.ggml.tokens"));
    n_vocab = static_cast<int>(tokens.size());
    w.CopyMetadata(*vocab, "tokenizer.");
  } else {
    SyntheticVocab(w, n_vocab);
  }
  const uint64_t d = s.d_model, hd = s.d_model / s.n_heads;
  const uint64_t qd = s.n_heads * hd, kvd = s.n_kv_heads * hd, ff = s.n_ff;
  // more_bits: the tensor is one that the _M mixes store as Q6_K.
  auto matrix = [&](const std::string& name, uint64_t cols, uint64_t rows, float stddev,
                    bool more_bits = false) {
    WeightType t = opts.type;
    if (opts.mix == QuantMix::kMedium && more_bits) t = WeightType::kQ6_K;
    // Rows that are not whole blocks: llama-quantize's fallbacks for the K-quants, else F16.
    if (cols % kernels::TraitsOf(t).block_elems != 0) {
      t = t == WeightType::kQ4_K   ? WeightType::kQ5_0
          : t == WeightType::kQ5_K ? WeightType::kQ5_1
          : t == WeightType::kQ6_K ? WeightType::kQ8_0
                                   : WeightType::kF16;
      if (cols % kernels::TraitsOf(t).block_elems != 0) t = WeightType::kF16;
    }
    return w.AddTensor(name, {cols, rows}, t, RandomFill(name, t, cols, stddev, opts.seed));
  };
  auto ones = [&](const std::string& name, uint64_t n) {
    return w.AddTensor(name, {n}, WeightType::kF32, ConstFill(std::vector<float>(n, 1.0f)));
  };
  auto bias = [&](const std::string& name, uint64_t n) {
    return w.AddTensor(name, {n}, WeightType::kF32,
                       RandomFill(name, WeightType::kF32, n, 0.02f, opts.seed));
  };
  // Tied: token_embd is also the output matrix, and gets its type (as llama-quantize does).
  RETURN_IF_ERROR(matrix("token_embd.weight", d, n_vocab, 1.0f, s.tied_output));
  RETURN_IF_ERROR(ones("output_norm.weight", d));
  if (!s.tied_output) {
    RETURN_IF_ERROR(matrix("output.weight", d, n_vocab, 1.0f / std::sqrt(d), true));
  }
  if (s.rope_llama3_factor > 0) {
    RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", {hd / 2}, WeightType::kF32,
                                ConstFill(Llama3RopeFactors(s, static_cast<int>(hd)))));
  }
  for (int l = 0; l < s.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const bool more_bits = UseMoreBits(l, s.n_layers);
    RETURN_IF_ERROR(ones(p + "attn_norm.weight", d));
    RETURN_IF_ERROR(matrix(p + "attn_q.weight", d, qd, 1.0f / std::sqrt(d)));
    RETURN_IF_ERROR(matrix(p + "attn_k.weight", d, kvd, 1.0f / std::sqrt(d)));
    RETURN_IF_ERROR(matrix(p + "attn_v.weight", d, kvd, 1.0f / std::sqrt(d), more_bits));
    if (s.arch == "qwen2") {
      RETURN_IF_ERROR(bias(p + "attn_q.bias", qd));
      RETURN_IF_ERROR(bias(p + "attn_k.bias", kvd));
      RETURN_IF_ERROR(bias(p + "attn_v.bias", kvd));
    }
    RETURN_IF_ERROR(matrix(p + "attn_output.weight", qd, d, 1.0f / std::sqrt(qd)));
    RETURN_IF_ERROR(ones(p + "ffn_norm.weight", d));
    RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", d, ff, 1.0f / std::sqrt(d)));
    RETURN_IF_ERROR(matrix(p + "ffn_up.weight", d, ff, 1.0f / std::sqrt(d)));
    RETURN_IF_ERROR(matrix(p + "ffn_down.weight", ff, d, 1.0f / std::sqrt(ff), more_bits));
  }
  return w.WriteFile(path);
}

}  // namespace tandem::model
