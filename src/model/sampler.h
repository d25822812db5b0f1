// Token sampling from logits: repetition penalty, then top-k, top-p, min-p and temperature, then
// a seeded random draw (llama.cpp's default chain, without DRY / typical-p / XTC).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tandem::model {

struct SamplerConfig {
  float temperature = 0.8f;     // <= 0: greedy (argmax, lowest id on ties)
  int top_k = 40;               // keep the k most likely tokens; <= 0: off
  float top_p = 0.95f;          // keep the smallest prefix with mass >= top_p; in (0, 1], 1: off
  float min_p = 0.05f;          // keep tokens with p >= min_p * p_max; in [0, 1], 0: off
  float repeat_penalty = 1.0f;  // > 0, 1: off; divides positive logits, multiplies negative ones
  int repeat_last_n = 64;       // tokens of history the penalty looks at; 0: off, -1: all
  uint64_t seed = 0xFFFFFFFF;   // fixed: the same seed gives the same tokens

  // InvalidArgument for values that mean nothing (NaN, top_p outside (0, 1], ...).
  Status Validate() const;
};

// One token and its probability in the final distribution the draw uses.
using TokenProb = std::pair<int32_t, float>;

// Stateful (the random engine advances with each draw); one per generated sequence.
class Sampler {
 public:
  explicit Sampler(SamplerConfig cfg);

  // Picks the next token from raw logits [n_vocab]. `history` holds all ids so far (prompt and
  // generated), for the penalty; ids outside [0, n_vocab) are ignored. NaN logits count as
  // -inf. Greedy takes no random draw; otherwise exactly one engine output is used, walking the
  // candidates in id order, so a seed gives the same tokens with any standard library.
  // Returns -1 only when `logits` is empty.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history);

  // The distribution Sample draws from: the tokens left after the penalty and the filters, with
  // their probabilities after temperature (summing to 1), most likely first, lower id first on
  // ties. Greedy gives the argmax alone with probability 1. Does not advance the random engine.
  std::vector<TokenProb> Candidates(std::span<const float> logits,
                                    std::span<const int32_t> history) const;

  const SamplerConfig& config() const { return cfg_; }

 private:
  // Uniform in [0, 1) from the top 53 bits of one engine output (the same on every stdlib).
  double NextUniform();

  SamplerConfig cfg_;
  std::mt19937_64 rng_;
};

}  // namespace tandem::model
