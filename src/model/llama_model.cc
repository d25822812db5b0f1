#include "model/llama_model.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "base/hash.h"
#include "base/thread_pool.h"
#include "kernels/ref/quant.h"

namespace tandem::model {
namespace {

using kernels::ref::MatRef;

std::string Name(int layer, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + suffix;
}

Status ShapeError(const GgufFile& f, const GgufTensorInfo& t, const std::string& want) {
  return InvalidArgument(f.path() + ": tensor '" + t.name + "' has shape " + t.ShapeString() +
                         ", expected " + want + " (model and metadata disagree?)");
}

StatusOr<const GgufTensorInfo*> Require(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (t == nullptr) return NotFound(f.path() + ": tensor '" + name + "' is missing");
  if (!kernels::TraitsOf(t->type).dequant_supported) {
    return Unimplemented(f.path() + ": tensor '" + name + "' has weight type " +
                         std::string(kernels::WeightTypeName(t->type)) +
                         ", which is not supported (supported: " +
                         std::string(kernels::ref::kSupportedWeightTypes) + ")");
  }
  return t;
}

// A 2-D weight with `cols` contiguous input elements per row and `rows` outputs.
StatusOr<MatRef> Matrix(const GgufFile& f, const std::string& name, int64_t rows, int64_t cols) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, Require(f, name));
  if (t->shape.size() != 2 || t->shape[0] != static_cast<uint64_t>(cols) ||
      t->shape[1] != static_cast<uint64_t>(rows)) {
    return ShapeError(f, *t, "[" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
  }
  return MatRef{t->type, t->data, rows, cols};
}

// A 1-D tensor of `n` elements as float32.
StatusOr<std::vector<float>> Vector(const GgufFile& f, const std::string& name, int64_t n) {
  ASSIGN_OR_RETURN(const GgufTensorInfo* t, Require(f, name));
  if (t->shape.size() != 1 || t->shape[0] != static_cast<uint64_t>(n)) {
    return ShapeError(f, *t, "[" + std::to_string(n) + "]");
  }
  std::vector<float> out(n);
  RETURN_IF_ERROR(kernels::ref::DequantizeRow(t->type, t->data, out.data(), n));
  return out;
}

StatusOr<LayerWeights> LoadLayer(const GgufFile& f, const LlamaConfig& c, int l) {
  LayerWeights w;
  const int64_t d = c.d_model;
  ASSIGN_OR_RETURN(w.attn_norm, Vector(f, Name(l, "attn_norm.weight"), d));
  ASSIGN_OR_RETURN(w.wq, Matrix(f, Name(l, "attn_q.weight"), c.q_dim(), d));
  ASSIGN_OR_RETURN(w.wk, Matrix(f, Name(l, "attn_k.weight"), c.kv_dim(), d));
  ASSIGN_OR_RETURN(w.wv, Matrix(f, Name(l, "attn_v.weight"), c.kv_dim(), d));
  ASSIGN_OR_RETURN(w.wo, Matrix(f, Name(l, "attn_output.weight"), d, c.q_dim()));
  if (c.qkv_bias) {
    ASSIGN_OR_RETURN(w.bq, Vector(f, Name(l, "attn_q.bias"), c.q_dim()));
    ASSIGN_OR_RETURN(w.bk, Vector(f, Name(l, "attn_k.bias"), c.kv_dim()));
    ASSIGN_OR_RETURN(w.bv, Vector(f, Name(l, "attn_v.bias"), c.kv_dim()));
  }
  ASSIGN_OR_RETURN(w.ffn_norm, Vector(f, Name(l, "ffn_norm.weight"), d));
  ASSIGN_OR_RETURN(w.w_gate, Matrix(f, Name(l, "ffn_gate.weight"), c.n_ff, d));
  ASSIGN_OR_RETURN(w.w_up, Matrix(f, Name(l, "ffn_up.weight"), c.n_ff, d));
  ASSIGN_OR_RETURN(w.w_down, Matrix(f, Name(l, "ffn_down.weight"), d, c.n_ff));
  return w;
}

uint64_t MatBytes(const MatRef& m) { return kernels::RowBytes(m.type, m.cols) * m.rows; }

uint64_t Fingerprint(const GgufFile& f) {
  Fnv1a h;
  for (const auto& t : f.tensors()) {
    h.Bytes(t.name.data(), t.name.size());
    for (uint64_t d : t.shape) h.U64(d);
    h.Bytes(&t.type, sizeof(t.type));
  }
  return h.value();
}
}  // namespace

StatusOr<LlamaWeights> LoadWeights(const GgufFile& f, const LlamaConfig& c) {
  LlamaWeights w;
  ASSIGN_OR_RETURN(w.tok_embd, Matrix(f, "token_embd.weight", c.n_vocab, c.d_model));
  ASSIGN_OR_RETURN(w.output_norm, Vector(f, "output_norm.weight", c.d_model));
  if (c.tied_output) {
    w.output = w.tok_embd;
  } else {
    ASSIGN_OR_RETURN(w.output, Matrix(f, "output.weight", c.n_vocab, c.d_model));
  }
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    ASSIGN_OR_RETURN(w.rope_freqs, Vector(f, "rope_freqs.weight", c.n_rot / 2));
  }
  w.layers.reserve(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    ASSIGN_OR_RETURN(LayerWeights lw, LoadLayer(f, c, l));
    w.layers.push_back(std::move(lw));
  }
  return w;
}

StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const std::string& path,
                                                       const LoadOptions& options) {
  std::unique_ptr<LlamaModel> m(new LlamaModel());
  ASSIGN_OR_RETURN(m->file_, GgufFile::Open(path));
  ASSIGN_OR_RETURN(m->config_, LlamaConfig::FromGguf(*m->file_));
  ASSIGN_OR_RETURN(m->weights_, LoadWeights(*m->file_, m->config_));
  ASSIGN_OR_RETURN(VocabData vocab, ReadVocab(*m->file_));
  ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::Create(std::move(vocab)));
  m->fingerprint_ = Fingerprint(*m->file_);
  if (m->tokenizer_->n_vocab() != m->config_.n_vocab) {
    return InvalidArgument(
        path + ": the tokenizer has " + std::to_string(m->tokenizer_->n_vocab()) +
        " tokens but token_embd.weight has " + std::to_string(m->config_.n_vocab) + " rows");
  }
  if (options.pack_weights) RETURN_IF_ERROR(m->PackWeights().WithContext(path));
  return m;
}

namespace {

// Weights the CPU kernels read row by row as the file has them (F32, and F16 and BF16 where they
// are not packed). They are copied into the arena anyway: there they sit on huge pages, where the
// hardware prefetchers follow a row across 4 KiB page boundaries, which they do not in the file
// mapping. (F16 decode, 2 threads, Llama-3.2-1B shape: 12.4-13.4 tokens/s, 50-58 % of the read
// bandwidth, from the file; 16.5-16.7 tokens/s, 65-68 %, from the copy, in the same quiet spells.)
bool CopiedAsIs(kernels::WeightType t) {
  return t == kernels::WeightType::kF32 || t == kernels::WeightType::kF16 ||
         t == kernels::WeightType::kBF16;
}

}  // namespace

Status LlamaModel::PackWeights() {
  std::vector<MatRef*> mats;
  for (LayerWeights& l : weights_.layers) {
    for (MatRef* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      mats.push_back(w);
    }
  }
  mats.push_back(&weights_.output);  // tok_embd's rows, when tied, are still read from the file
  // Bytes of a matrix in the arena: packed, copied as it is (64-byte aligned), or none.
  auto arena_bytes = [](const MatRef& w) -> uint64_t {
    if (kernels::cpu::PacksWeights(w.type)) {
      return kernels::cpu::PackedBytes(w.type, w.rows, w.cols);
    }
    if (CopiedAsIs(w.type)) return (kernels::RowBytes(w.type, w.cols) * w.rows + 63) / 64 * 64;
    return 0;
  };
  uint64_t total = 0;
  for (const MatRef* w : mats) total += arena_bytes(*w);
  if (total == 0) return OkStatus();
  ASSIGN_OR_RETURN(packed_, kernels::cpu::AlignedBuffer::Allocate(total));
  // Slices of rows, packed (or copied) on every hardware thread, each slice's file pages dropped
  // right after: resident memory peaks at the arena plus one slice per thread, not plus the
  // largest matrix.
  constexpr int64_t kSliceRows = 64 * kernels::cpu::kPanelRows;
  struct Slice {
    MatRef rows;
    uint8_t* out;
    uint64_t bytes;
  };
  std::vector<Slice> slices;
  uint64_t offset = 0;
  for (MatRef* w : mats) {
    const uint64_t matrix_bytes = arena_bytes(*w);
    if (matrix_bytes == 0) continue;
    const bool pack = kernels::cpu::PacksWeights(w->type);
    const uint64_t row_bytes = kernels::RowBytes(w->type, w->cols);
    uint8_t* out = packed_.data() + offset;
    for (int64_t r0 = 0; r0 < w->rows; r0 += kSliceRows) {
      MatRef slice = *w;
      slice.data = w->data + r0 * row_bytes;
      slice.rows = std::min(kSliceRows, w->rows - r0);
      // Whole panels: the slice's packed bytes are exactly its panels of the whole matrix.
      const uint64_t n =
          pack ? kernels::cpu::PackedBytes(w->type, slice.rows, w->cols) : slice.rows * row_bytes;
      slices.push_back({slice, out, n});
      out += n;
    }
    if (pack) {
      w->packed = packed_.data() + offset;
    } else {
      w->data = packed_.data() + offset;  // the copy is the matrix, for every kernel
    }
    offset += matrix_bytes;
  }
  base::ThreadPool pool(base::ThreadPool::HardwareThreads());
  std::vector<Status> errors(slices.size());
  pool.ParallelFor(static_cast<int64_t>(slices.size()), [&](int64_t i, int) {
    const Slice& s = slices[i];
    if (kernels::cpu::PacksWeights(s.rows.type)) {
      errors[i] = kernels::cpu::PackWeights(s.rows, s.out, s.bytes);
    } else {
      std::memcpy(s.out, s.rows.data, s.bytes);
    }
    file_->DropPages(s.rows.data, s.rows.rows * kernels::RowBytes(s.rows.type, s.rows.cols));
  });
  for (Status& e : errors) RETURN_IF_ERROR(std::move(e));
  return OkStatus();
}

double LayerFlops(const LlamaConfig& c, int64_t t0, int64_t t1) {
  const double n = static_cast<double>(t1 - t0);
  // Σ_{p=t0}^{t1-1} (p + 1) visible keys
  const double visible = (static_cast<double>(t0 + 1) + static_cast<double>(t1)) * n / 2;
  return 2.0 * static_cast<double>(c.ParamsPerLayer()) * n + 4.0 * c.q_dim() * visible;
}

double LayerBytes(const LlamaWeights& w, const LlamaConfig& c, int layer, int64_t t1) {
  const LayerWeights& l = w.layers[layer];
  const uint64_t weights = MatBytes(l.wq) + MatBytes(l.wk) + MatBytes(l.wv) + MatBytes(l.wo) +
                           MatBytes(l.w_gate) + MatBytes(l.w_up) + MatBytes(l.w_down);
  return static_cast<double>(weights) + 2.0 * c.kv_dim() * 4.0 * static_cast<double>(t1);
}

double HeadFlops(const LlamaConfig& c) { return 2.0 * c.d_model * c.n_vocab; }
double HeadBytes(const LlamaWeights& w) { return static_cast<double>(MatBytes(w.output)); }

uint64_t LlamaModel::weight_bytes() const {
  uint64_t n = 0;
  for (const auto& t : file_->tensors()) n += t.n_bytes;
  return n;
}

}  // namespace tandem::model
