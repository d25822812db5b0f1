#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace tandem::model {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr size_t kTopPFirstSort = 64;  // top-p sorts this many first, doubling until it is enough

struct Cand {
  int32_t id;
  float logit;
};

// A total order (higher logit first, then lower id), so top-k's heap, top-p's partial sort and
// Candidates' order are the same with every standard library.
bool Before(const Cand& a, const Cand& b) {
  if (a.logit != b.logit) return a.logit > b.logit;
  return a.id < b.id;
}

// exp((logit - max) / temperature): the unnormalised probability. Exactly 1 for the max itself,
// which keeps the arithmetic sane when the max is +-inf.
double RelWeight(float logit, float max_logit, float temperature) {
  if (logit == max_logit) return 1.0;
  return std::exp((static_cast<double>(logit) - max_logit) / temperature);
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// The logits as the chain sees them: NaN as -inf, and the repetition penalty applied once to
// each distinct id among the last repeat_last_n of history, the way llama.cpp does. Read in id
// order without copying the vocabulary.
class PenalizedLogits {
 public:
  PenalizedLogits(std::span<const float> raw, std::span<const int32_t> history,
                  const SamplerConfig& cfg)
      : raw_(raw), penalty_(cfg.repeat_penalty) {
    if (cfg.repeat_penalty == 1.0f || cfg.repeat_last_n == 0) return;
    const size_t n = cfg.repeat_last_n < 0 ? history.size()
                                           : std::min(history.size(), size_t(cfg.repeat_last_n));
    for (const int32_t id : history.last(n)) {
      if (id >= 0 && static_cast<size_t>(id) < raw.size()) penalized_.push_back(id);
    }
    std::sort(penalized_.begin(), penalized_.end());
    penalized_.erase(std::unique(penalized_.begin(), penalized_.end()), penalized_.end());
  }

  size_t size() const { return raw_.size(); }

  // Calls fn(id, logit) for every id, in increasing order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    size_t next = 0;  // into penalized_, which is sorted
    for (size_t i = 0; i < raw_.size(); ++i) {
      float l = std::isnan(raw_[i]) ? kNegInf : raw_[i];
      if (next < penalized_.size() && static_cast<size_t>(penalized_[next]) == i) {
        l = l <= 0 ? l * penalty_ : l / penalty_;
        ++next;
      }
      fn(static_cast<int32_t>(i), l);
    }
  }

 private:
  std::span<const float> raw_;
  float penalty_;
  std::vector<int32_t> penalized_;  // sorted, distinct, in range
};

// The id of the largest logit, the lowest id among equals.
int32_t ArgMax(const PenalizedLogits& logits) {
  int32_t best = 0;
  float best_logit = kNegInf;
  logits.ForEach([&](int32_t id, float l) {
    if (l > best_logit) {
      best = id;
      best_logit = l;
    }
  });
  return best;
}

bool IdOrder(const Cand& a, const Cand& b) { return a.id < b.id; }

// The k best tokens by Before (all when k is off), in no particular order. One pass with a heap
// whose front is the worst kept, so most tokens cost a single comparison.
std::vector<Cand> TopK(const PenalizedLogits& logits, int k) {
  std::vector<Cand> c;
  if (k <= 0 || static_cast<size_t>(k) >= logits.size()) {
    c.reserve(logits.size());
    logits.ForEach([&](int32_t id, float l) { c.push_back({id, l}); });
    return c;
  }
  c.reserve(static_cast<size_t>(k));
  float worst = kNegInf;  // c.front().logit once c is full: anything below it cannot enter
  logits.ForEach([&](int32_t id, float l) {
    if (l < worst) return;
    const Cand x{id, l};
    if (c.size() < static_cast<size_t>(k)) {
      c.push_back(x);
      std::push_heap(c.begin(), c.end(), Before);
    } else if (Before(x, c.front())) {
      std::pop_heap(c.begin(), c.end(), Before);
      c.back() = x;
      std::push_heap(c.begin(), c.end(), Before);
    } else {
      return;
    }
    if (c.size() == static_cast<size_t>(k)) worst = c.front().logit;
  });
  return c;
}

float MaxLogit(const std::vector<Cand>& c) {
  float m = kNegInf;
  for (const Cand& x : c) m = std::max(m, x.logit);
  return m;
}

double WeightSum(const std::vector<Cand>& c, float max_logit) {
  double sum = 0;
  for (const Cand& x : c) sum += RelWeight(x.logit, max_logit, 1.0f);
  return sum;
}

// Drops tokens with p < min_p * p_max, i.e. logit < max + log(min_p); the max always stays.
void MinP(std::vector<Cand>& c, float min_p, float max_logit) {
  if (min_p <= 0) return;
  const float bound = max_logit + std::log(min_p);
  std::erase_if(c, [&](const Cand& x) { return x.logit < bound && x.logit != max_logit; });
}

// Keeps the shortest most-likely-first prefix whose probability mass reaches top_p; `total` is
// the weight sum of the distribution top-p normalises over. Sorts only as far as it needs to.
void TopP(std::vector<Cand>& c, float top_p, float max_logit, double total) {
  if (top_p >= 1 || c.empty()) return;
  size_t m = std::min(c.size(), kTopPFirstSort);
  while (true) {
    std::partial_sort(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(m), c.end(), Before);
    double cum = 0;
    for (size_t i = 0; i < m; ++i) {
      cum += RelWeight(c[i].logit, max_logit, 1.0f) / total;
      if (cum >= top_p) {
        c.resize(i + 1);
        return;
      }
    }
    if (m == c.size()) return;
    m = std::min(c.size(), 2 * m);
  }
}

// Penalty, top-k, top-p, min-p: the tokens left, in no particular order, and their max logit.
std::vector<Cand> Filter(std::span<const float> logits, std::span<const int32_t> history,
                         const SamplerConfig& cfg, float* max_logit) {
  std::vector<Cand> c = TopK(PenalizedLogits(logits, history, cfg), cfg.top_k);
  *max_logit = MaxLogit(c);
  const double total = cfg.top_p < 1 ? WeightSum(c, *max_logit) : 0;  // top-p sees top-k's set
  // The chain runs top-p, then min-p. Both keep a most-likely-first prefix, and min-p's bound
  // (relative to the max, which top-p always keeps) does not depend on top-p, so cutting min-p's
  // tail first leaves the same set while top-p sorts far fewer tokens.
  MinP(c, cfg.min_p, *max_logit);
  TopP(c, cfg.top_p, *max_logit, total);
  return c;
}

// Softmax of logit / temperature over the survivors (which contain the max).
std::vector<TokenProb> Normalize(const std::vector<Cand>& c, float max_logit, float temperature) {
  std::vector<double> w(c.size());
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    w[i] = RelWeight(c[i].logit, max_logit, temperature);
    sum += w[i];
  }
  std::vector<TokenProb> out(c.size());
  for (size_t i = 0; i < c.size(); ++i) out[i] = {c[i].id, static_cast<float>(w[i] / sum)};
  return out;
}

}  // namespace

Status SamplerConfig::Validate() const {
  if (!std::isfinite(temperature)) {
    return InvalidArgument("sampler: temperature must be a finite number (<= 0 for greedy), got " +
                           Num(temperature));
  }
  if (!(top_p > 0 && top_p <= 1)) {
    return InvalidArgument("sampler: top_p must be in (0, 1] (1 turns it off), got " + Num(top_p));
  }
  if (!(min_p >= 0 && min_p <= 1)) {
    return InvalidArgument("sampler: min_p must be in [0, 1] (0 turns it off), got " + Num(min_p));
  }
  if (!(repeat_penalty > 0) || !std::isfinite(repeat_penalty)) {
    return InvalidArgument(
        "sampler: repeat_penalty must be positive and finite (1 turns it off), got " +
        Num(repeat_penalty));
  }
  if (repeat_last_n < -1) {
    return InvalidArgument(
        "sampler: repeat_last_n must be >= -1 (-1: the whole history, 0: off), got " +
        std::to_string(repeat_last_n));
  }
  return OkStatus();
}

Sampler::Sampler(SamplerConfig cfg) : cfg_(cfg), rng_(cfg.seed) {}

std::vector<TokenProb> Sampler::Candidates(std::span<const float> logits,
                                           std::span<const int32_t> history) const {
  if (logits.empty()) return {};
  if (cfg_.temperature <= 0) return {{ArgMax(PenalizedLogits(logits, history, cfg_)), 1.0f}};
  float max_logit = 0;
  std::vector<Cand> c = Filter(logits, history, cfg_, &max_logit);
  std::sort(c.begin(), c.end(), Before);
  return Normalize(c, max_logit, cfg_.temperature);
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history) {
  if (logits.empty()) return -1;
  if (cfg_.temperature <= 0) return ArgMax(PenalizedLogits(logits, history, cfg_));
  float max_logit = 0;
  std::vector<Cand> c = Filter(logits, history, cfg_, &max_logit);
  // The draw walks the tokens in id order: fixed whatever the filters did, and free when they
  // kept everything (no sort of the whole vocabulary).
  if (!std::is_sorted(c.begin(), c.end(), IdOrder)) std::sort(c.begin(), c.end(), IdOrder);
  const std::vector<TokenProb> probs = Normalize(c, max_logit, cfg_.temperature);
  // One engine output per draw, even with one candidate, so the stream stays aligned.
  const double u = NextUniform();
  double cum = 0;
  for (const auto& [id, p] : probs) {
    cum += p;
    if (u < cum) return id;
  }
  return probs.back().first;  // rounding left the sum just below u
}

double Sampler::NextUniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

}  // namespace tandem::model
