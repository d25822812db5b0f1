#include "model/generate.h"

#include <chrono>
#include <string>

namespace tandem::model {
namespace {
double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

double GenerateResult::decode_tokens_per_s() const {
  const int64_t steps = static_cast<int64_t>(generated.size()) - 1;
  return decode_s > 0 && steps > 0 ? steps / decode_s : 0;
}

StatusOr<GenerateResult> Generate(const LlamaModel& model, kv::KvCache& cache,
                                  std::span<const int32_t> prompt, const GenerateOptions& opts,
                                  const TokenFn& on_token) {
  return GenerateFrom(model, cache, prompt, 0, opts, on_token);
}

StatusOr<GenerateResult> GenerateFrom(const LlamaModel& model, kv::KvCache& cache,
                                      std::span<const int32_t> prompt, int64_t n_cached,
                                      const GenerateOptions& opts, const TokenFn& on_token) {
  RETURN_IF_ERROR(opts.sampler.Validate());
  const int64_t n_ctx = cache.layout().n_ctx;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) return InvalidArgument("the prompt is empty");
  if (n_prompt >= n_ctx) {
    return OutOfRange("the prompt has " + std::to_string(n_prompt) +
                      " tokens but the context holds " + std::to_string(n_ctx) +
                      " (shorten the prompt or raise -c)");
  }
  if (opts.n_batch <= 0) return InvalidArgument("batch size must be positive");
  if (n_cached < 0 || n_cached >= n_prompt) {
    return InvalidArgument("cached prefix must be shorter than the prompt");
  }
  Forward fwd(model, cache, opts.forward);
  fwd.set_observer(opts.observer);
  Sampler sampler(opts.sampler);
  GenerateResult r;
  r.n_prompt = n_prompt;
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<float> logits;

  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t p = n_cached; p < n_prompt; p += opts.n_batch) {
    const int64_t n = std::min<int64_t>(opts.n_batch, n_prompt - p);
    const bool last = p + n == n_prompt;
    RETURN_IF_ERROR(fwd.Prefill(prompt.subspan(p, n), p, last ? &logits : nullptr));
  }
  const auto t1 = std::chrono::steady_clock::now();
  r.prefill_s = Seconds(t0, t1);

  int64_t pos = n_prompt;
  while (opts.n_predict < 0 || static_cast<int64_t>(r.generated.size()) < opts.n_predict) {
    if (opts.keep_all_logits) r.logits.push_back(logits);
    const int32_t id = sampler.Sample(logits, history);
    r.generated.push_back(id);
    history.push_back(id);
    if (on_token && !on_token(id)) break;
    if (opts.stop_at_end_of_generation && model.tokenizer().IsEndOfGeneration(id)) {
      r.hit_end_of_generation = true;
      break;
    }
    if (opts.n_predict >= 0 && static_cast<int64_t>(r.generated.size()) >= opts.n_predict) break;
    if (pos >= n_ctx) {
      r.hit_context_limit = true;
      break;
    }
    RETURN_IF_ERROR(fwd.Decode(id, pos, &logits));
    ++pos;
  }
  r.decode_s = Seconds(t1, std::chrono::steady_clock::now());
  return r;
}

}  // namespace tandem::model
