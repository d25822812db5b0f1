#include "tools/cluster_bench.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "server/peer_client.h"

namespace tandem::tools {
namespace {

using nlohmann::json;

std::vector<int32_t> PromptIds(int n, uint64_t seed) {
  std::vector<int32_t> ids(n);
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  ids[0] = 1;  // BOS
  for (int i = 1; i < n; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = 3 + static_cast<int32_t>((s >> 33) % 253);  // ids every vocabulary here has
  }
  return ids;
}

StatusOr<BenchRow> RunOne(const std::string& node, const json& request, const std::string& name) {
  ASSIGN_OR_RETURN(auto hp, server::SplitHostPort(node));
  httplib::Client cli(hp.first, hp.second);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(3600);
  auto res = cli.Post("/v1/generate", request.dump(), "application/json");
  if (!res)
    return Unavailable("node " + node + " is unreachable (" + httplib::to_string(res.error()) +
                       ")");
  const json j = json::parse(res->body, nullptr, false);
  if (res->status != 200 || j.is_discarded()) {
    return Unavailable("node " + node + " failed: " + res->body);
  }
  const json& t = j["trace"];
  BenchRow r;
  r.name = name;
  r.placement = t.value("placement", "");
  r.ttft_s = t.value("ttft_s", 0.0);
  r.total_s = t.value("total_s", 0.0);
  r.prefill_s = t.value("prefill_s", 0.0);
  r.generation_s = r.total_s - r.prefill_s;
  r.tokens_per_s = t.value("tokens_per_s", 0.0);
  r.exposed_tail_s = t.value("exposed_tail_s", 0.0);
  r.transfer_s = t.value("transfer_s", 0.0);
  r.hidden_fraction = t.value("hidden_fraction", 0.0);
  r.link_gb_per_s = t.value("link_gb_per_s", 0.0);
  r.kv_bytes = t.value("kv_bytes", uint64_t{0});
  r.fallback_reason = t.value("fallback_reason", "");
  r.generated = j["generated_ids"].get<std::vector<int32_t>>();
  for (const json& f : t["frames"]) {
    r.frames.push_back({f.value("layer", 0), f.value("compute_done_s", 0.0),
                        f.value("send_start_s", 0.0), f.value("send_end_s", 0.0),
                        f.value("received_s", 0.0)});
  }
  return r;
}

}  // namespace

StatusOr<ClusterBenchResult> RunClusterBench(const ClusterBenchOptions& o) {
  ClusterBenchResult res;
  res.options = o;
  json base = {{"prompt_ids", PromptIds(o.prompt_tokens, o.seed)},
               {"n_predict", o.gen},
               {"temperature", 0.0},
               {"ignore_eos", true},
               {"placement", {{"mode", "local"}}}};
  auto remote = [&](const char* mode) {
    json r = base;
    r["placement"] = {{"mode", mode},
                      {"prefill_peer", o.prefill_node},
                      {"codec", o.codec},
                      {"chunk_tokens", o.chunk_tokens}};
    return r;
  };
  ASSIGN_OR_RETURN(BenchRow a, RunOne(o.prefill_node, base, "prefill node alone"));
  ASSIGN_OR_RETURN(BenchRow b, RunOne(o.decode_node, base, "decode node alone"));
  ASSIGN_OR_RETURN(BenchRow after,
                   RunOne(o.decode_node, remote("after-prefill"), "pair, after-prefill"));
  ASSIGN_OR_RETURN(BenchRow streamed, RunOne(o.decode_node, remote("streamed"), "pair, streamed"));
  res.rows = {a, b, after, streamed};
  const double slowest = std::max(a.total_s, b.total_s), fastest = std::min(a.total_s, b.total_s);
  res.speedup_vs_slowest = streamed.total_s > 0 ? slowest / streamed.total_s : 0;
  res.speedup_vs_fastest = streamed.total_s > 0 ? fastest / streamed.total_s : 0;
  res.tokens_identical = a.generated == b.generated && b.generated == after.generated &&
                         after.generated == streamed.generated;
  res.prefill_match = a.prefill_s > 0 ? streamed.prefill_s / a.prefill_s : 0;
  res.decode_match = b.tokens_per_s > 0 ? streamed.tokens_per_s / b.tokens_per_s : 0;
  return res;
}

std::string ClusterBenchResult::Table() const {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof(line), "%-22s %10s %13s %9s %9s %9s %10s %7s\n", "configuration",
                "prefill s", "generation s", "total s", "TTFT s", "tok/s", "KV tail ms", "hidden");
  s += line;
  for (const BenchRow& r : rows) {
    std::snprintf(line, sizeof(line), "%-22s %10.3f %13.3f %9.3f %9.3f %9.2f %10.1f %7s\n",
                  r.name.c_str(), r.prefill_s, r.generation_s, r.total_s, r.ttft_s, r.tokens_per_s,
                  r.exposed_tail_s * 1e3,
                  r.frames.empty()
                      ? "-"
                      : (std::to_string(static_cast<int>(r.hidden_fraction * 100)) + "%").c_str());
    s += line;
    if (!r.fallback_reason.empty())
      s += "  (fell back to local prefill: " + r.fallback_reason + ")\n";
  }
  std::snprintf(
      line, sizeof(line),
      "streamed pair: %.2fx faster than the slowest single node, %.2fx than the fastest\n",
      speedup_vs_slowest, speedup_vs_fastest);
  s += line;
  std::snprintf(line, sizeof(line),
                "check: pair prefill = %.2f x prefill node alone; pair decode rate = %.2f x decode "
                "node alone; tokens identical in all four runs: %s\n",
                prefill_match, decode_match, tokens_identical ? "yes" : "NO");
  s += line;
  if (rows.size() == 4 && rows[3].kv_bytes > 0) {
    std::snprintf(line, sizeof(line),
                  "KV on the wire: %.3f MB at %.3f MB/s; pair total = %.2f x "
                  "(prefill node's prefill + decode node's generation)\n",
                  rows[3].kv_bytes / 1e6, rows[3].link_gb_per_s * 1e3,
                  rows[3].total_s / (rows[0].prefill_s + rows[1].generation_s));
    s += line;
  }
  return s;
}

std::string ClusterBenchResult::Timeline(int width) const {
  if (rows.size() < 4 || rows[3].frames.empty()) return "";
  const BenchRow& r = rows[3];
  const double end = r.ttft_s;  // the first token
  auto col = [&](double t) {
    return std::clamp(static_cast<int>(t / end * (width - 1)), 0, width - 1);
  };
  std::string s = "per-layer timeline of the streamed run (0 .. first token at " +
                  std::to_string(end).substr(0, 5) +
                  " s): '#' prefill computing, '=' KV on the wire, '|' received\n";
  double prev_done = 0;
  for (const BenchFrame& f : r.frames) {
    std::string bar(width, ' ');
    for (int c = col(prev_done); c <= col(f.compute_done_s); ++c) bar[c] = '#';
    for (int c = col(f.send_start_s); c <= col(f.send_end_s); ++c) {
      bar[c] = bar[c] == '#' ? '%' : '=';
    }
    bar[col(f.received_s)] = '|';
    prev_done = f.compute_done_s;
    char label[32];
    std::snprintf(label, sizeof(label), "layer %3d ", f.layer);
    s += label + bar + "\n";
  }
  return s;
}

std::string ClusterBenchResult::ToJson() const {
  json j = {{"prefill_node", options.prefill_node},
            {"decode_node", options.decode_node},
            {"prompt_tokens", options.prompt_tokens},
            {"gen", options.gen},
            {"codec", options.codec},
            {"speedup_vs_slowest", speedup_vs_slowest},
            {"speedup_vs_fastest", speedup_vs_fastest},
            {"tokens_identical", tokens_identical},
            {"prefill_match", prefill_match},
            {"decode_match", decode_match}};
  for (const BenchRow& r : rows) {
    json row = {{"name", r.name},
                {"placement", r.placement},
                {"prefill_s", r.prefill_s},
                {"generation_s", r.generation_s},
                {"total_s", r.total_s},
                {"ttft_s", r.ttft_s},
                {"tokens_per_s", r.tokens_per_s},
                {"exposed_tail_s", r.exposed_tail_s},
                {"transfer_s", r.transfer_s},
                {"hidden_fraction", r.hidden_fraction},
                {"link_gb_per_s", r.link_gb_per_s},
                {"kv_bytes", r.kv_bytes},
                {"fallback_reason", r.fallback_reason}};
    row["frames"] = json::array();
    for (const BenchFrame& f : r.frames) {
      row["frames"].push_back({{"layer", f.layer},
                               {"compute_done_s", f.compute_done_s},
                               {"send_start_s", f.send_start_s},
                               {"send_end_s", f.send_end_s},
                               {"received_s", f.received_s}});
    }
    j["rows"].push_back(row);
  }
  return j.dump();
}

}  // namespace tandem::tools
