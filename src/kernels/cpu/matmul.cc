#include "kernels/cpu/matmul.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "kernels/cpu/hwy_config.h"
// clang-format off
#include "hwy/highway.h"
// clang-format on
#include "hwy/targets.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/packed.h"

namespace tandem::kernels::cpu {
namespace {

using internal::GemmArgs;
using GemmFn = void (*)(const GemmArgs&);

// What the activations must be turned into before the kernel runs.
enum class ActForm { kF32, kF32Groups, kF16Groups, kQ8, kQ8Signed, kQ8K, kBf16 };

struct Plan {
  GemmFn fn = nullptr;
  ActForm acts = ActForm::kF32;
  int32_t offset = 0;        // kQ8Signed: the packed weights' offset k
  bool packed = false;       // the kernel reads w.packed; tasks count panels
  bool task_panels = false;  // the kernel packs 32-row panels per task, for all its tokens
  int sum_elems = 0;         // kQ8K: activation sums per 16 or 32 elements
  internal::DecodePrefetch prefetch = {};  // GemmArgs::prefetch
};

Plan ChoosePlan(WeightType type, bool has_packed, int64_t n_tokens, int64_t cols,
                const MatMulOptions& o) {
  // Panels packed per task pay off over many tokens; they take whole 32-column blocks.
  const bool panels = n_tokens >= 16 && cols % 32 == 0;
  const bool vnni = o.allow_intrinsics && internal::HasAvx512Vnni();
  const bool bf16 = o.allow_intrinsics && internal::HasAvx512Bf16();
  if (has_packed && o.allow_intrinsics && PacksWeights(type)) {
    switch (type) {
      case WeightType::kF16:
        if (bf16 && n_tokens > 1 && o.f16_prefill == F16Prefill::kBf16 && cols % 32 == 0) {
          return {internal::GemmF16PackedBf16Panels, ActForm::kBf16, 0, true, true};
        }
        if (n_tokens > 1 && o.f16_prefill == F16Prefill::kFp16 && internal::HasAvx512Fp16()) {
          return {internal::GemmF16PackedFp16, ActForm::kF16Groups, 0, true};
        }
        return {internal::GemmF16Packed, ActForm::kF32, 0, true};
      case WeightType::kBF16:
        if (bf16 && n_tokens > 1 && cols % 32 == 0) {
          return {internal::GemmBF16PackedBf16Panels, ActForm::kBf16, 0, true, true};
        }
        return {internal::GemmBF16Packed, ActForm::kF32, 0, true};
      case WeightType::kQ8_0: return {internal::GemmQ8_0Packed, ActForm::kQ8Signed, 128, true};
      case WeightType::kQ4_0: return {internal::GemmQ4_0Packed, ActForm::kQ8Signed, 8, true};
      case WeightType::kQ5_0: return {internal::GemmQ5_0Packed, ActForm::kQ8Signed, 16, true};
      case WeightType::kQ4_K: return {internal::GemmQ4_KPacked, ActForm::kQ8K, 0, true, false, 32};
      case WeightType::kQ5_K: return {internal::GemmQ5_KPacked, ActForm::kQ8K, 0, true, false, 32};
      default: return {internal::GemmQ6_KPacked, ActForm::kQ8K, 0, true, false, 16};
    }
  }
  switch (type) {
    case WeightType::kF32: return {internal::GemmF32, ActForm::kF32};
    case WeightType::kF16:
      if (bf16 && n_tokens > 1 && o.f16_prefill == F16Prefill::kBf16) {
        if (panels) return {internal::GemmF16Bf16Panels, ActForm::kBf16, 0, false, true};
        return {internal::GemmF16Bf16Dot, ActForm::kBf16};
      }
      return {internal::GemmF16, ActForm::kF32};
    case WeightType::kBF16:
      if (bf16 && panels) return {internal::GemmBF16Bf16Panels, ActForm::kBf16, 0, false, true};
      if (bf16) return {internal::GemmBF16Bf16Dot, ActForm::kBf16};
      return {internal::GemmBF16, ActForm::kF32};
    case WeightType::kQ8_0:
      if (vnni) return {internal::GemmQ8_0Vnni, ActForm::kQ8};
      return {internal::GemmQ8_0, ActForm::kF32};
    case WeightType::kQ4_0:
      if (vnni) return {internal::GemmQ4_0Vnni, ActForm::kQ8};
      return {internal::GemmQ4_0, ActForm::kF32};
    case WeightType::kQ4_1:
    case WeightType::kQ5_0:
    case WeightType::kQ5_1:
    case WeightType::kQ4_K:
    case WeightType::kQ5_K:
    case WeightType::kQ6_K: return {internal::GemmDequantizedRows, ActForm::kF32};
    default: return {};
  }
}

// Per-call activation buffers, reused by the calling thread.
struct ActBuffers {
  std::vector<uint8_t> q;
  std::vector<int16_t> s;
  std::vector<float> d;
  std::vector<int32_t> c;
  std::vector<uint16_t> bf;
  std::vector<float> f;
};

// Tokens per task: enough that a task's weight rows are reused from cache, few enough that the
// task's activations stay in L2 (512 KiB of f32, or of Q8 / bf16).
int64_t TokenBlock(ActForm form, int64_t cols) {
  const int64_t bytes_per_token =
      cols * (form == ActForm::kF32 || form == ActForm::kF32Groups    ? 4
              : form == ActForm::kBf16 || form == ActForm::kF16Groups ? 2
                                                                      : 1);
  return std::clamp<int64_t>((512 << 10) / std::max<int64_t>(bytes_per_token, 1), 4, 256) & ~3;
}

// Converts tokens [0, n_tokens) of x into the activations `plan` wants, in `acts`, and points `a`
// at them: blocks of tb tokens in parallel on `pool`, or all inline when it is null.
void ConvertActs(const Plan& plan, const float* x, int64_t n_tokens, int64_t cols, int64_t tb,
                 base::ThreadPool* pool, ActBuffers& acts, GemmArgs& a) {
  auto blocks = [&](const auto& convert) {  // convert(t0, t1)
    if (pool == nullptr) return convert(0, n_tokens);
    pool->ParallelFor((n_tokens + tb - 1) / tb,
                      [&](int64_t b, int) { convert(b * tb, std::min(n_tokens, b * tb + tb)); });
  };
  const int64_t nb = cols / 32;
  switch (plan.acts) {
    case ActForm::kF32: return;
    case ActForm::kF32Groups: {
      const int64_t cp = cols + cols % 2;
      acts.f.resize(n_tokens * cp);
      blocks([&](int64_t t0, int64_t t1) {
        internal::GroupPairs(x + t0 * cols, t1 - t0, cols, tb, acts.f.data() + t0 * cp);
      });
      a.xg = acts.f.data();
      return;
    }
    case ActForm::kF16Groups: {
      const int64_t cp = cols + cols % 2;
      acts.bf.resize(n_tokens * cp);
      acts.d.resize(n_tokens);
      blocks([&](int64_t t0, int64_t t1) {
        internal::GroupPairsFp16(x + t0 * cols, t1 - t0, cols, tb, acts.bf.data() + t0 * cp,
                                 acts.d.data() + t0);
      });
      a.xh = acts.bf.data();
      a.xh_inv_scale = acts.d.data();
      return;
    }
    case ActForm::kQ8:
      acts.q.resize(n_tokens * cols);
      acts.d.resize(n_tokens * nb);
      blocks([&](int64_t t0, int64_t t1) {
        internal::QuantizeActs(x + t0 * cols, t1 - t0, cols, acts.q.data() + t0 * cols,
                               acts.d.data() + t0 * nb);
      });
      a.xq = {acts.q.data(), acts.d.data()};
      return;
    case ActForm::kQ8Signed: {
      acts.q.resize(n_tokens * cols);
      acts.d.resize(n_tokens * nb);
      acts.c.resize(n_tokens * nb);
      auto* q = reinterpret_cast<int8_t*>(acts.q.data());
      blocks([&](int64_t t0, int64_t t1) {
        internal::QuantizeActsSigned(x + t0 * cols, t1 - t0, cols, q + t0 * cols,
                                     acts.d.data() + t0 * nb, acts.c.data() + t0 * nb, plan.offset);
      });
      a.xs = {q, acts.d.data(), acts.c.data()};
      return;
    }
    case ActForm::kQ8K: {
      const int64_t n_super = cols / 256, n_sums = cols / plan.sum_elems;
      acts.q.resize(n_tokens * cols);
      acts.d.resize(n_tokens * n_super);
      acts.s.resize(n_tokens * n_sums);
      auto* q = reinterpret_cast<int8_t*>(acts.q.data());
      blocks([&](int64_t t0, int64_t t1) {
        internal::QuantizeActsK(x + t0 * cols, t1 - t0, cols, q + t0 * cols,
                                acts.d.data() + t0 * n_super, acts.s.data() + t0 * n_sums,
                                plan.sum_elems);
      });
      a.xk = {q, acts.d.data(), acts.s.data()};
      return;
    }
    case ActForm::kBf16:
      acts.bf.resize(n_tokens * cols);
      blocks([&](int64_t t0, int64_t t1) {
        (internal::HasAvx512Bf16() ? internal::ConvertToBf16Avx512 : internal::ConvertToBf16)(
            x + t0 * cols, (t1 - t0) * cols, acts.bf.data() + t0 * cols);
      });
      a.xbf = acts.bf.data();
      return;
  }
}

}  // namespace

namespace {

// The per-vendor choices below (docs/performance.md, "The machines").
bool IntelCpu() {
#if defined(__x86_64__)
  static const bool intel = __builtin_cpu_is("intel");
  return intel;
#else
  return false;
#endif
}

// AMD family 0x1A (Zen 5) or later: CPUID leaf 1, base family 0xF plus the extended family.
// (GCC 12's __builtin_cpu_is knows no Zen 5.)
bool AmdZen5OrLater() {
#if defined(__x86_64__)
  static const bool zen5 = [] {
    if (!__builtin_cpu_is("amd")) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned base = (eax >> 8) & 0xF, ext = (eax >> 20) & 0xFF;
    return (base == 0xF ? base + ext : base) >= 0x1A;
  }();
  return zen5;
#else
  return false;
#endif
}

}  // namespace

int DecodePrefetchDefault(WeightType type) {
  if (AmdZen5OrLater()) {
    return DecodeStreamsDefault(type) == 2 ? 3072 : 8192;  // bytes ahead of each stream
  }
  return IntelCpu() ? 4096 : 0;
}

int DecodePrefetchLevelDefault() { return AmdZen5OrLater() ? 1 : 2; }

bool DecodePageBurstDefault() { return AmdZen5OrLater(); }

int DecodeStreamsDefault(WeightType type) {
  return type == WeightType::kF16 || type == WeightType::kBF16 ? 2 : 1;  // F16/BF16: the kernel's
}

int F16PrefillTileDefault() { return IntelCpu() ? internal::kPairGroupTokens : 6; }

namespace internal {

void GroupPairs(const float* x, int64_t n, int64_t cols, int64_t tb, float* out) {
  const int64_t cp = cols + cols % 2, pairs = cp / 2;
  for (int64_t b0 = 0; b0 < n; b0 += tb) {
    const int64_t b1 = std::min(n, b0 + tb);
    for (int64_t s = b0; s < b1; s += kPairGroupTokens) {
      const int64_t T = std::min<int64_t>(kPairGroupTokens, b1 - s);
      const float* xs = x + s * cols;
      float* g = out + s * cp;
      for (int64_t j = 0; j < pairs; ++j) {  // writes in order, reads T rows
        for (int64_t t = 0; t < T; ++t, g += 2) {
          g[0] = xs[t * cols + 2 * j];
          g[1] = 2 * j + 1 < cols ? xs[t * cols + 2 * j + 1] : 0.0f;
        }
      }
    }
  }
}

}  // namespace internal

bool F16PrefillRounds(F16Prefill mode) {
  switch (mode) {
    case F16Prefill::kBf16: return internal::HasAvx512Bf16();
    case F16Prefill::kFp16: return internal::HasAvx512Fp16();
    default: return false;
  }
}

bool MatMulSupports(WeightType type) { return ChoosePlan(type, false, 1, 0, {}).fn != nullptr; }

std::string KernelTargets() {
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  std::string s = hwy::TargetName(targets & -targets);  // lowest bit: the best target
  s += " (Highway)";
  if (internal::HasAvx512Vnni()) s += " + AVX-512 VNNI";
  if (internal::HasAvx512Bf16()) s += " + AVX-512 BF16";
  return s;
}

namespace {

Status CheckShape(const ref::MatRef& w, int64_t n_tokens) {
  const WeightTypeTraits traits = TraitsOf(w.type);
  if (w.rows <= 0 || w.cols <= 0 || w.cols % traits.block_elems != 0 || n_tokens < 0) {
    return InvalidArgument("MatMul: bad shape " + std::to_string(w.rows) + "x" +
                           std::to_string(w.cols) + " for " + std::string(traits.name));
  }
  return OkStatus();
}

StatusOr<Plan> PlanFor(const ref::MatRef& w, int64_t n_tokens, const MatMulOptions& options) {
  Plan plan = ChoosePlan(w.type, w.packed != nullptr, n_tokens, w.cols, options);
  if (plan.fn == nullptr) {
    return Unimplemented("fast MatMul has no kernel for weight type " +
                         std::string(WeightTypeName(w.type)));
  }
  RETURN_IF_ERROR(CheckShape(w, n_tokens));
  plan.prefetch.bytes = std::max(
      0, options.decode_prefetch < 0 ? DecodePrefetchDefault(w.type) : options.decode_prefetch);
  const int level = options.decode_prefetch_level == 0 ? DecodePrefetchLevelDefault()
                                                       : options.decode_prefetch_level;
  if (level != 1 && level != 2) {
    return InvalidArgument("MatMul: decode prefetch into L" + std::to_string(level) + " (1 or 2)");
  }
  plan.prefetch.into_l1 = level == 1;
  plan.prefetch.page_burst =
      options.decode_page_burst < 0 ? DecodePageBurstDefault() : options.decode_page_burst != 0;
  const int streams =
      options.decode_streams == 0 ? DecodeStreamsDefault(w.type) : options.decode_streams;
  if (streams != 1 && streams != 2) {
    return InvalidArgument("MatMul: " + std::to_string(streams) + " decode streams (1 or 2)");
  }
  plan.prefetch.halves = streams == 2;
  const int f16_tile =
      options.f16_prefill_tile == 0 ? F16PrefillTileDefault() : options.f16_prefill_tile;
  if (f16_tile != 6 && f16_tile != internal::kPairGroupTokens) {
    return InvalidArgument("MatMul: F16 prefill tile of " + std::to_string(f16_tile) +
                           " tokens (6 or 14)");
  }
  // The 14-token tile takes its activations grouped (GroupPairs); the kernel tells it by them.
  if ((plan.fn == internal::GemmF16Packed || plan.fn == internal::GemmBF16Packed) && n_tokens > 1 &&
      f16_tile == internal::kPairGroupTokens) {
    plan.acts = ActForm::kF32Groups;
  }
  return plan;
}

// The kernel arguments of w's product, but the task's rows and tokens: the weights' fields set on
// `a`, which may already hold the converted activations.
GemmArgs ArgsFor(const ref::MatRef& w, const Plan& plan, const float* x, float* y,
                 GemmArgs a = {}) {
  a.type = w.type;
  a.w = w.data;
  a.row_bytes = RowBytes(w.type, w.cols);
  a.cols = w.cols;
  a.x = x;
  a.y = y;
  a.ldy = w.rows;
  a.prefetch = plan.prefetch;
  if (plan.packed) {
    a.packed = w.packed;
    a.panel_stride = PanelStride(w.type, w.cols);
    a.rows = w.rows;
  }
  return a;
}

// How a product's rows split into tasks: `units` (panels for the packed kernels, else rows) in
// blocks of `per_task`. A multiple of 4 rows (32 for per-task panels), about 8 tasks per thread
// per token block, at most 256 rows; packed kernels count in panels (of 16 rows), two at a time.
struct RowBlocks {
  int64_t units, per_task, n;
};
RowBlocks RowBlocksFor(const Plan& plan, int64_t rows, int threads) {
  const int64_t row_step = plan.task_panels ? 32 : 4;
  const int64_t want_tasks = static_cast<int64_t>(threads) * 8;
  const int64_t units = plan.packed ? (rows + kPanelRows - 1) / kPanelRows : rows;
  int64_t per_task = (units + want_tasks - 1) / want_tasks;
  per_task = plan.packed ? std::clamp<int64_t>((per_task + 1) & ~int64_t{1}, 2, 16)
                         : std::clamp<int64_t>((per_task + row_step - 1) / row_step * row_step,
                                               row_step, 256);
  return {units, per_task, (units + per_task - 1) / per_task};
}

// Several tokens (prefill) times matrices that share x, of one plan: the activations converted
// once, and every product's tasks (row blocks x token blocks) in one parallel loop. For q, k, v
// and gate, up against a product each: pp512 (Q4_0, alternating binaries) higher in 5 of 6 pairs,
// by 0.1-2 %.
Status ProductsOfTokens(std::span<const ref::MatRef* const> ws, const float* x, int64_t n_tokens,
                        std::span<float* const> ys, const Plan& plan, base::ThreadPool& pool) {
  constexpr size_t kMaxProducts = 4;
  if (ws.size() > kMaxProducts) return InvalidArgument("MatMuls: more than 4 matrices");
  const int64_t cols = ws[0]->cols;
  // Panels packed per task are packed once for all of the task's tokens: the more tokens per
  // task the better, rows give the parallelism.
  int64_t tb = plan.task_panels ? n_tokens : TokenBlock(plan.acts, cols);
  // Grouped activations: whole groups per block, so that only the last block has a shorter tile
  // (64 tokens were 4 x 14 + 8, and the 8-token tiles took 12 % of a 2048 x 2048 x 256 product).
  if (plan.acts == ActForm::kF32Groups || plan.acts == ActForm::kF16Groups) {
    tb = std::max<int64_t>(internal::kPairGroupTokens,
                           tb / internal::kPairGroupTokens * internal::kPairGroupTokens);
  }
  const int64_t n_tb = (n_tokens + tb - 1) / tb;
  thread_local ActBuffers caller_acts;  // the caller's: the tasks below run on other threads
  GemmArgs acts;
  ConvertActs(plan, x, n_tokens, cols, tb, &pool, caller_acts, acts);
  GemmArgs base[kMaxProducts];
  RowBlocks blocks[kMaxProducts];
  int64_t first_task[kMaxProducts + 1] = {0};
  for (size_t i = 0; i < ws.size(); ++i) {
    base[i] = ArgsFor(*ws[i], plan, x, ys[i], acts);
    blocks[i] = RowBlocksFor(plan, ws[i]->rows, pool.size());
    first_task[i + 1] = first_task[i] + blocks[i].n * n_tb;
  }
  pool.ParallelFor(first_task[ws.size()], [&](int64_t task, int) {
    size_t i = 0;
    while (task >= first_task[i + 1]) ++i;
    const int64_t local = task - first_task[i];
    GemmArgs a = base[i];
    a.r0 = local / n_tb * blocks[i].per_task;
    a.r1 = std::min(blocks[i].units, a.r0 + blocks[i].per_task);
    a.t0 = local % n_tb * tb;
    a.t1 = std::min(n_tokens, a.t0 + tb);
    plan.fn(a);
  });
  return OkStatus();
}

}  // namespace

Status MatMul(const ref::MatRef& w, const float* x, int64_t n_tokens, float* y,
              base::ThreadPool& pool, const MatMulOptions& options) {
  ASSIGN_OR_RETURN(const Plan plan, PlanFor(w, n_tokens, options));
  if (n_tokens == 0) return OkStatus();
  if (n_tokens > 1) {
    const ref::MatRef* ws[] = {&w};
    float* ys[] = {y};
    return ProductsOfTokens(ws, x, n_tokens, ys, plan, pool);
  }

  // Decode: each thread converts the token itself, into buffers of its own, on its first task
  // (in `run`). Converted once by the caller, the buffers' lines were still held by the other
  // core, which had read them in the previous product: rewriting them took the caller 2.5-3 us
  // of each product while the other thread waited (quiet spells, kernels_bench DecodeVsStream),
  // where converting a token takes well under 1 us.
  GemmArgs base = ArgsFor(w, plan, x, y);
  const bool acts_per_thread = plan.acts != ActForm::kF32 && pool.size() > 1;
  if (!acts_per_thread) {
    thread_local ActBuffers caller_acts;  // the caller's: the lambdas below run on other threads
    ConvertActs(plan, x, 1, w.cols, 1, &pool, caller_acts, base);
  }
  const RowBlocks blocks = RowBlocksFor(plan, w.rows, pool.size());
  struct alignas(64) ThreadArgs {
    bool ready = false;
    GemmArgs args;
  };
  std::vector<ThreadArgs> per_thread(acts_per_thread ? pool.size() : 0);
  auto run = [&](int64_t task, int thread) {
    GemmArgs a = base;
    if (acts_per_thread) {
      ThreadArgs& mine = per_thread[thread];
      if (!mine.ready) {
        thread_local ActBuffers own;
        mine.args = base;
        ConvertActs(plan, x, 1, w.cols, 1, nullptr, own, mine.args);
        mine.ready = true;
      }
      a = mine.args;
    }
    a.r0 = task * blocks.per_task;
    a.r1 = std::min(blocks.units, a.r0 + blocks.per_task);
    a.t0 = 0;
    a.t1 = 1;
    plan.fn(a);
  };
  // Decode streams the weights: each thread reads a contiguous share of the rows front to back
  // (one stream per core, see ParallelForShares). Two threads reading their tasks interleaved
  // reached 0.70 of the read ceiling, with shares 0.8 (kernels_bench DecodeLayers, Q4_0).
  pool.ParallelForShares(blocks.n, run);
  return OkStatus();
}

Status MatMuls(std::span<const ref::MatRef* const> ws, const float* x, int64_t n_tokens,
               std::span<float* const> ys, base::ThreadPool& pool, const MatMulOptions& options) {
  if (ws.size() != ys.size() || ws.empty()) {
    return InvalidArgument("MatMuls: " + std::to_string(ws.size()) + " matrices for " +
                           std::to_string(ys.size()) + " outputs");
  }
  bool shared = n_tokens > 1 && ws.size() <= 4;
  for (const ref::MatRef* w : ws) {
    shared = shared && w->type == ws[0]->type && w->cols == ws[0]->cols &&
             (w->packed != nullptr) == (ws[0]->packed != nullptr);
  }
  if (!shared) {
    for (size_t i = 0; i < ws.size(); ++i) {
      RETURN_IF_ERROR(MatMul(*ws[i], x, n_tokens, ys[i], pool, options));
    }
    return OkStatus();
  }
  ASSIGN_OR_RETURN(const Plan plan, PlanFor(*ws[0], n_tokens, options));
  for (const ref::MatRef* w : ws) RETURN_IF_ERROR(CheckShape(*w, n_tokens));
  return ProductsOfTokens(ws, x, n_tokens, ys, plan, pool);
}

}  // namespace tandem::kernels::cpu
