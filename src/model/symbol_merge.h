// Internal to the tokenizers: the greedy pair merging that SPM and byte-level BPE share. A word
// is split into symbols (a linked list of byte ranges); the best adjacent pair is merged first,
// then its new neighbours are ranked, until no adjacent pair can merge. How a pair is ranked is
// the tokenizer's: a merge rank (BPE) or a token score (SPM).
#pragma once

#include <cstddef>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

namespace tandem::model::internal {

struct MergeSymbol {
  int prev;
  int next;  // -1 after the last
  size_t start;
  size_t n;  // 0 once merged into its left neighbour
};

// One symbol per character of `text`; char_len(text, pos) gives the bytes of the one at pos (>= 1).
template <class CharLen>
std::vector<MergeSymbol> SplitSymbols(std::string_view text, const CharLen& char_len) {
  std::vector<MergeSymbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = char_len(text, pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, pos + n == text.size() ? -1 : index + 1, pos, n});
    pos += n;
  }
  return symbols;
}

// Merges adjacent symbols of `text` while cost(left, right) (the two pieces) has a value: the
// lowest cost first, the leftmost among equal costs. Walk the result from symbols[0] by `next`.
template <class Cost>  // std::optional<double>(std::string_view left, std::string_view right)
void MergePairs(std::string_view text, std::vector<MergeSymbol>& symbols, const Cost& cost) {
  struct Pair {
    double cost;
    int left;
    int right;
    size_t left_n;  // sizes when found: a merge since then makes the pair stale
    size_t right_n;
  };
  const auto later = [](const Pair& a, const Pair& b) {
    return a.cost > b.cost || (a.cost == b.cost && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(later)> queue(later);
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const MergeSymbol& l = symbols[left];
    const MergeSymbol& r = symbols[right];
    const std::optional<double> c = cost(text.substr(l.start, l.n), text.substr(r.start, r.n));
    if (c) queue.push({*c, left, right, l.n, r.n});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    MergeSymbol& left = symbols[p.left];
    MergeSymbol& right = symbols[p.right];
    if (left.n != p.left_n || right.n != p.right_n) continue;  // stale
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = p.left;
    try_add(left.prev, p.left);
    try_add(p.left, left.next);
  }
}

}  // namespace tandem::model::internal
