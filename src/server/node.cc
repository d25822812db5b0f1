#include "server/node.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "cluster/discovery.h"
#include "cluster/topology_json.h"
#include "model/llama_model.h"
#include "runtime/kv_stream.h"
#include "runtime/plan_inputs.h"
#include "runtime/request.h"
#include "server/peer_client.h"
#include "server/placement_policy.h"
#include "server/self_profile.h"
#include "transport/auth.h"
#include "transport/tcp.h"

namespace tandem::server {

using nlohmann::json;

namespace {
constexpr double kAssumedPeerMemoryBytes = 64e9;  // a peer that does not state its memory
}  // namespace

std::string ControlToken(const std::string& cluster_key) {
  const transport::Proof p =
      transport::ComputeProof(cluster_key, "tandem-control", transport::Nonce{}, {});
  std::string hex;
  for (uint8_t b : p) {
    hex += "0123456789abcdef"[b >> 4];
    hex += "0123456789abcdef"[b & 15];
  }
  return hex;
}

struct Node::Impl {
  NodeOptions opts;
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<transport::FrameListener> listener;
  httplib::Server http;
  std::thread http_thread;
  std::thread data_thread;
  std::mutex threads_mu;
  std::vector<std::thread> conn_threads;
  std::mutex compute_mu;                   // one forward pass at a time on this node
  std::unique_ptr<base::ThreadPool> pool;  // its threads
  std::mutex traces_mu;
  std::map<std::string, std::string> traces;  // id -> JSON, the last kMaxTraces
  std::deque<std::string> trace_order;
  std::atomic<uint64_t> next_request{1};
  std::atomic<bool> stopping{false};
  static constexpr size_t kMaxTraces = 256;
  std::unique_ptr<SelfProfile> self;  // this node's device, as the planner sees it
  std::unique_ptr<cluster::Discovery> discovery;
  std::thread prober_thread;  // measures the links from peers and the free memory
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  void ProbeLinks();
  void RefreshMemory();  // re-reads free memory, logs a change, updates the policy
  int64_t started_ns = 0;
  // Peers to consider: --peer addresses and discovered members (host:http_port).
  std::vector<std::string> PeerAddresses() const;
  std::string ClusterJson() const;
  std::unique_ptr<PlacementPolicy> policy;

  void ServeData();
  void RegisterRoutes();
  bool Authorized(const httplib::Request& req) const;
  void Generate(const httplib::Request& req, httplib::Response& res);
  void StoreTrace(const runtime::RequestTrace& t);
  // The planner's choice among this node alone and each reachable peer prefilling for it.
  StatusOr<Decision> AutoPlacement(int64_t prompt_tokens, int64_t gen_tokens, bool may_forward);
  // Sends the request to `d.forward_to_address` and returns its answer (with a "forwarded"
  // record), or an error when the decode node cannot be reached or refuses it.
  StatusOr<json> Forward(json body, const runtime::RequestSpec& spec, const Decision& d);
};

std::vector<std::string> Node::Impl::PeerAddresses() const {
  std::vector<std::string> out = opts.peers;
  if (discovery) {
    for (const cluster::Member& m : discovery->Members()) {
      const std::string addr = m.address + ":" + std::to_string(m.http_port);
      if (std::find(out.begin(), out.end(), addr) == out.end()) out.push_back(addr);
    }
  }
  return out;
}

void Node::Impl::RefreshMemory() {
  const std::string change = self->RefreshMemory();
  if (!change.empty()) spdlog::info("node={} {}", opts.node_id, change);
  policy->SetSelf(self->Device());
}

// Every few seconds: this node's free memory, and a short bulk probe from each peer, so a node
// that ran short of memory or a link that slowed (or sped up) moves the next placement before a
// request has to find out.
void Node::Impl::ProbeLinks() {
  constexpr auto kEvery = std::chrono::seconds(3);
  constexpr uint64_t kProbeBytes = 256 * 1024;
  std::map<std::string, double> last;
  std::unique_lock<std::mutex> l(stop_mu);
  while (!stop_cv.wait_for(l, kEvery, [this] { return stopping.load(); })) {
    l.unlock();
    RefreshMemory();
    for (const std::string& addr : PeerAddresses()) {
      if (opts.cluster_key.empty()) break;
      auto peer = ResolvePeer(addr, opts.cluster_key);
      if (!peer.ok()) continue;
      auto bw = ProbeLink(addr, opts.cluster_key, kProbeBytes);
      if (!bw.ok()) continue;
      // A token-bucket-shaped peer states its rate; HTTP does not pass through that bucket.
      const double rate = peer->link_bytes_per_s > 0 ? std::min(*bw, peer->link_bytes_per_s) : *bw;
      policy->ObserveLink(peer->node_id, rate, /*weight=*/1.0);
      double& prev = last[peer->node_id];
      if (prev == 0 || rate < 0.7 * prev || rate > 1.3 * prev) {
        spdlog::info("node={} link from {} measured at {:.3f} MB/s (was {:.3f} MB/s)", opts.node_id,
                     peer->node_id, rate / 1e6, prev / 1e6);
        prev = rate;
      }
    }
    l.lock();
  }
}

std::string Node::Impl::ClusterJson() const {
  cluster::TopologyView v;
  v.self.node_id = opts.node_id;
  v.self.address = opts.host;
  v.self.http_port = opts.http_port;
  v.self.data_port = listener->port();
  v.self.first_seen_ns = started_ns;
  v.now_ns = NowNs();
  v.self.last_seen_ns = v.now_ns;
  if (discovery) {
    v.members = discovery->Members();
    v.version = discovery->version();
  }
  v.profiles_json[opts.node_id] = self->Json().dump();
  return cluster::TopologyJson(v);
}

StatusOr<Decision> Node::Impl::AutoPlacement(int64_t prompt_tokens, int64_t gen_tokens,
                                             bool may_forward) {
  std::vector<PeerCandidate> peers;
  for (const std::string& addr : PeerAddresses()) {
    auto p = ResolvePeer(addr, opts.cluster_key);
    if (!p.ok()) {
      spdlog::warn("node={} peer {} left out of placement: {}", opts.node_id, addr,
                   p.status().ToString());
      continue;
    }
    if (p->model_fingerprint != model->fingerprint()) {
      // Neither its prefill (refused at Hello) nor its answers would be this model's.
      spdlog::warn("node={} peer {} ({}) serves another model; left out of placement", opts.node_id,
                   p->node_id, addr);
      continue;
    }
    PeerCandidate c;
    c.node_id = p->node_id;
    c.host = p->host;
    c.data_port = p->data_port;
    c.clock_offset_ns = p->clock_offset_ns;
    c.rtt_s = p->rtt_ms / 1e3;
    runtime::NodeProfile np;
    np.flops = p->flops;
    np.bandwidth = p->bandwidth;
    const double total = p->memory > 0 ? p->memory : kAssumedPeerMemoryBytes;
    c.profile =
        runtime::PlannerDevice(p->node_id, np, total, p->memory_free > 0 ? p->memory_free : total);
    c.link_bytes_per_s = p->link_bytes_per_s;
    c.http_address = addr;
    if (p->flops > 0 && p->bandwidth > 0) peers.push_back(c);
  }
  RefreshMemory();
  return policy->Decide(peers, prompt_tokens, gen_tokens, may_forward);
}

StatusOr<json> Node::Impl::Forward(json body, const runtime::RequestSpec& spec, const Decision& d) {
  const auto colon = d.forward_to_address.rfind(':');
  if (colon == std::string::npos)
    return InvalidArgument("bad peer address " + d.forward_to_address);
  httplib::Client cli(d.forward_to_address.substr(0, colon),
                      std::stoi(d.forward_to_address.substr(colon + 1)));
  cli.set_connection_timeout(5);
  cli.set_read_timeout(3600);  // a long generation
  body["id"] = spec.id;
  body["prompt_ids"] = spec.prompt;  // tokenized once, here
  body.erase("prompt");
  // The decode node owns the request: it plans its own prefill side and does not forward again.
  body["placement"] = {{"mode", "auto"}, {"forwarded_by", opts.node_id}};
  const httplib::Headers headers = {{"X-Tandem-Key", ControlToken(opts.cluster_key)}};
  auto r = cli.Post("/v1/generate", headers, body.dump(), "application/json");
  if (!r) {
    return Unavailable("decode node " + d.forward_to_node + " unreachable (" +
                       httplib::to_string(r.error()) + ")");
  }
  json out = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (r->status != 200 || out.is_discarded() || !out.is_object()) {
    return Unavailable("decode node " + d.forward_to_node + " answered " +
                       std::to_string(r->status) + ": " + r->body.substr(0, 200));
  }
  out["forwarded"] = {{"from", opts.node_id},
                      {"to", d.forward_to_node},
                      {"plan", d.label},
                      {"reason", d.reason},
                      {"predicted_ttft_s", d.predicted_ttft_s},
                      {"predicted_total_s", d.predicted_total_s}};
  return out;
}

namespace {

void JsonError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"message", message}, {"code", status}}}}.dump(),
                  "application/json");
}

// Fills the sampling and length options of a generate request.
Status ParseGenerateOptions(const json& body, model::GenerateOptions& gen) {
  gen.n_predict = body.value("n_predict", body.value("max_tokens", 32));
  gen.sampler.temperature = body.value("temperature", 0.0f);
  gen.sampler.top_k = body.value("top_k", gen.sampler.top_k);
  gen.sampler.top_p = body.value("top_p", gen.sampler.top_p);
  gen.sampler.min_p = body.value("min_p", gen.sampler.min_p);
  gen.sampler.seed = body.value("seed", gen.sampler.seed);
  gen.stop_at_end_of_generation = !body.value("ignore_eos", false);
  if (gen.n_predict < 1 || gen.n_predict > (1 << 20)) {
    return InvalidArgument("n_predict must be between 1 and 2^20");
  }
  return gen.sampler.Validate();
}

}  // namespace

bool Node::Impl::Authorized(const httplib::Request& req) const {
  return !opts.cluster_key.empty() &&
         req.get_header_value("X-Tandem-Key") == ControlToken(opts.cluster_key);
}

void Node::Impl::StoreTrace(const runtime::RequestTrace& t) {
  std::lock_guard<std::mutex> l(traces_mu);
  traces[t.id] = t.ToJson();
  trace_order.push_back(t.id);
  while (trace_order.size() > kMaxTraces) {
    traces.erase(trace_order.front());
    trace_order.pop_front();
  }
}

void Node::Impl::ServeData() {
  while (!stopping) {
    auto conn = listener->Accept();
    if (!conn.ok()) continue;
    std::shared_ptr<transport::FrameConn> c = std::move(*conn);
    std::lock_guard<std::mutex> l(threads_mu);
    conn_threads.emplace_back([this, c] {
      runtime::ServePrefillOptions so{opts.node_id, opts.cluster_key, opts.emulation,
                                      opts.link_bytes_per_s, pool.get()};
      std::lock_guard<std::mutex> compute(compute_mu);
      SelfProfile::Busy busy(self.get());
      auto served = runtime::ServePrefill(*model, *c, so);
      if (served.ok() && served->emulation_saturated > 0) {
        spdlog::warn(
            "node={} emulation saturated: the host computed {} of {} layers slower than "
            "the emulated device; timings are the host's, not the emulation's",
            opts.node_id, served->emulation_saturated, served->emulation_paced);
      }
      if (served.ok()) {
        spdlog::info(
            "node={} served_prefill request={} peer={} tokens={} kv_bytes={} "
            "prefill_s={:.3f} stream_s={:.3f}",
            opts.node_id, served->request_id, served->peer, served->n_tokens, served->bytes,
            served->prefill_s, served->stream_s);
      } else {
        spdlog::warn("node={} prefill for {} failed: {}", opts.node_id, c->peer(),
                     served.status().ToString());
      }
    });
  }
}

void Node::Impl::Generate(const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return JsonError(res, 400, "body is not a JSON object");
  runtime::RequestSpec spec;
  spec.id = body.value("id", opts.node_id + "-" + std::to_string(next_request++));
  if (Status st = ParseGenerateOptions(body, spec.gen); !st.ok()) {
    return JsonError(res, 400, st.message());
  }
  if (body.contains("prompt_ids")) {
    spec.prompt = body["prompt_ids"].get<std::vector<int32_t>>();
  } else {
    spec.prompt = model->tokenizer().Encode(body.value("prompt", ""), true, false);
  }
  if (spec.prompt.empty()) return JsonError(res, 400, "the prompt is empty");
  const json pj = body.value("placement", json::object());
  const std::string mode_name = pj.value("mode", PeerAddresses().empty() ? "local" : "auto");
  std::optional<Decision> decision;
  if (mode_name == "auto") {
    // A request forwarded here is owned here; one from a client may go to a better decode node.
    const bool may_forward = !pj.contains("forwarded_by") && !opts.cluster_key.empty();
    auto d =
        AutoPlacement(static_cast<int64_t>(spec.prompt.size()), spec.gen.n_predict, may_forward);
    if (!d.ok()) return JsonError(res, 400, d.status().message());
    if (!d->change.empty()) spdlog::info("node={} {}", opts.node_id, d->change);
    if (!d->forward_to_node.empty()) {
      spdlog::info("node={} request={} forwarded to {}: {}", opts.node_id, spec.id,
                   d->forward_to_node, d->reason);
      auto out = Forward(body, spec, *d);
      if (out.ok()) {
        return res.set_content(out->dump(-1, ' ', false, json::error_handler_t::replace),
                               "application/json");
      }
      // Never lose the request: serve it here, with the best plan that decodes here.
      spdlog::warn("node={} request={} forwarding failed, serving it here: {}", opts.node_id,
                   spec.id, out.status().ToString());
      d = AutoPlacement(static_cast<int64_t>(spec.prompt.size()), spec.gen.n_predict, false);
      if (!d.ok()) return JsonError(res, 400, d.status().message());
    }
    decision = *d;
  } else if (pj.contains("forwarded_by")) {
    return JsonError(res, 400, "a forwarded request must use placement mode auto");
  }
  auto mode = decision ? StatusOr<runtime::PlacementMode>(decision->placement.mode)
                       : runtime::ParsePlacementMode(mode_name);
  if (!mode.ok()) return JsonError(res, 400, mode.status().message());
  const auto codec = kv::ParseKvCodec(pj.value("codec", "f16"));
  if (!codec) return JsonError(res, 400, "unknown KV codec (f16, q8)");
  spec.chunk_tokens = pj.value("chunk_tokens", 0u);
  runtime::Placement placement;
  placement.mode = *mode;
  placement.codec = *codec;
  placement.reason = pj.value("reason", "requested by the client");
  std::string resolve_error;
  if (decision) {
    placement = decision->placement;
  } else if (*mode != runtime::PlacementMode::kLocal) {
    auto peer = ResolvePeer(pj.value("prefill_peer", ""), opts.cluster_key);
    if (peer.ok()) {
      placement.prefill_node_id = peer->node_id;
      placement.prefill_host = peer->host;
      placement.prefill_data_port = peer->data_port;
      placement.clock_offset_ns = peer->clock_offset_ns;
    } else {
      resolve_error = peer.status().ToString();
      placement.mode = runtime::PlacementMode::kLocal;
    }
  }
  const runtime::NodeContext ctx{opts.node_id, opts.cluster_key, opts.emulation, opts.kv_precision,
                                 pool.get()};
  std::unique_lock<std::mutex> compute(compute_mu);
  std::optional<SelfProfile::Busy> busy(std::in_place, self.get());
  auto r = runtime::RunRequest(*model, spec, placement, ctx);
  busy.reset();
  compute.unlock();
  if (!r.ok()) return JsonError(res, 400, r.status().ToString());
  if (!resolve_error.empty()) {
    r->trace.fallback_reason = resolve_error;
    r->trace.placement =
        std::string(runtime::PlacementModeName(*mode)) + " (fell back to local prefill)";
  }
  if (r->trace.link_gb_per_s > 0 && r->trace.fallback_reason.empty()) {
    policy->ObserveLink(r->trace.prefill_node, r->trace.link_gb_per_s * 1e9, /*weight=*/0.5);
  }
  if (r->trace.emulation_saturated > 0) {
    spdlog::warn(
        "node={} request={} emulation saturated: {} steps ran slower than the emulated "
        "device (host too slow for it)",
        opts.node_id, spec.id, r->trace.emulation_saturated);
  }
  StoreTrace(r->trace);
  spdlog::info("node={} {}", opts.node_id, r->trace.LogLine());
  const json out = {{"id", spec.id},
                    {"prompt_ids", spec.prompt},
                    {"generated_ids", r->gen.generated},
                    {"text", model->tokenizer().Decode(r->gen.generated)},
                    {"trace", json::parse(r->trace.ToJson())}};
  res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void Node::Impl::RegisterRoutes() {
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        json{{"status", "ok"},
             {"node_id", opts.node_id},
             {"data_port", listener->port()},
             // "declared" until an emulated node has measured itself (a few seconds after start)
             {"profile_source", self->profile().source}}
            .dump(),
        "application/json");
  });
  http.Get("/v1/node", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req)) return JsonError(res, 403, "cluster key required");
    RefreshMemory();  // peers plan with it
    res.set_content(json{{"node_id", opts.node_id},
                         {"data_port", listener->port()},
                         {"model_fingerprint", model->fingerprint()},
                         {"tokenizer_hash", model->tokenizer().Fingerprint()},
                         {"emulation", opts.emulation.ToString()},
                         {"profile", self->Json()},
                         {"link_bytes_per_s", opts.link_bytes_per_s}}
                        .dump(),
                    "application/json");
  });
  http.Get("/v1/clock", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req)) return JsonError(res, 403, "cluster key required");
    res.set_content(json{{"ns", NowNs()}}.dump(), "application/json");
  });
  http.Get("/v1/probe", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req)) return JsonError(res, 403, "cluster key required");
    const uint64_t n = std::min<uint64_t>(
        std::strtoull(req.get_param_value("bytes").c_str(), nullptr, 10), kMaxProbeBytes);
    res.set_content(std::string(n, '\0'), "application/octet-stream");
  });
  http.Get("/cluster", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(ClusterJson(), "application/json");
  });
  http.Post("/v1/generate",
            [this](const httplib::Request& req, httplib::Response& res) { Generate(req, res); });
  http.Get(R"(/v1/requests/([^/]+)/trace)",
           [this](const httplib::Request& req, httplib::Response& res) {
             std::lock_guard<std::mutex> l(traces_mu);
             const auto it = traces.find(req.matches[1].str());
             if (it == traces.end()) return JsonError(res, 404, "no such request");
             res.set_content(it->second, "application/json");
           });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        JsonError(res, 500, what);
      });
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() { Stop(); }

StatusOr<std::unique_ptr<Node>> Node::Start(const NodeOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.node_id.empty()) {
    impl->opts.node_id = opts.host + ":" + std::to_string(opts.http_port);
  }
  ASSIGN_OR_RETURN(impl->model, model::LlamaModel::Load(opts.model_path));
  impl->pool = std::make_unique<base::ThreadPool>(std::max(1, opts.threads));
  SelfProfileOptions so;
  so.node_id = impl->opts.node_id;
  so.emulation = opts.emulation;
  so.threads = std::max(1, opts.threads);
  so.cache_dir = opts.profile_cache
                     ? (opts.profile_cache_dir.empty() ? runtime::DefaultProfileCacheDir()
                                                       : opts.profile_cache_dir)
                     : "";
  so.refresh_delay_s = opts.profile_refresh_delay_s;
  ASSIGN_OR_RETURN(impl->self, SelfProfile::Start(*impl->model, so));
  impl->policy = std::make_unique<PlacementPolicy>(
      runtime::PlannerShape(*impl->model, opts.kv_precision), impl->self->Device());
  const uint16_t data_port = opts.data_port != 0 ? opts.data_port : opts.http_port + 1;
  ASSIGN_OR_RETURN(impl->listener, transport::FrameListener::Listen(opts.host, data_port));
  impl->RegisterRoutes();
  if (!impl->http.bind_to_port(opts.host.c_str(), opts.http_port)) {
    return Unavailable("cannot listen on " + opts.host + ":" + std::to_string(opts.http_port) +
                       " (port in use?)");
  }
  impl->started_ns = NowNs();
  if (opts.discovery && !opts.cluster_key.empty()) {
    cluster::DiscoveryOptions d;
    d.node_id = impl->opts.node_id;
    d.cluster_key = opts.cluster_key;
    d.http_port = opts.http_port;
    d.data_port = data_port;
    d.interface_address = opts.discovery_interface.empty() ? opts.host : opts.discovery_interface;
    d.unicast_port = 0;  // several nodes may share a host
    d.ipv6 = false;
    ASSIGN_OR_RETURN(impl->discovery, cluster::Discovery::Start(d));
  }
  Impl* p = impl.get();
  impl->http_thread = std::thread([p] { p->http.listen_after_bind(); });
  impl->data_thread = std::thread([p] { p->ServeData(); });
  impl->prober_thread = std::thread([p] { p->ProbeLinks(); });
  spdlog::info("node={} model={} http={}:{} data={} emulation=[{}] link_shaping={} key={}",
               impl->opts.node_id, opts.model_path, opts.host, opts.http_port, data_port,
               opts.emulation.enabled() ? opts.emulation.ToString() : "off",
               opts.link_bytes_per_s > 0
                   ? "token bucket " + std::to_string(opts.link_bytes_per_s / 1e6) + " MB/s"
                   : "off",
               opts.cluster_key.empty() ? "none (remote work refused)" : "set");
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

void Node::Wait() {
  if (impl_->http_thread.joinable()) impl_->http_thread.join();
}

void Node::Stop() {
  {
    std::lock_guard<std::mutex> l(impl_->stop_mu);
    if (impl_->stopping.exchange(true)) return;
  }
  impl_->stop_cv.notify_all();
  impl_->self->Stop();
  if (impl_->prober_thread.joinable()) impl_->prober_thread.join();
  if (impl_->discovery) impl_->discovery->Stop();
  impl_->http.stop();
  impl_->listener->Close();
  if (impl_->http_thread.joinable()) impl_->http_thread.join();
  if (impl_->data_thread.joinable()) impl_->data_thread.join();
  std::lock_guard<std::mutex> l(impl_->threads_mu);
  for (auto& t : impl_->conn_threads) t.join();
}

uint16_t Node::http_port() const { return impl_->opts.http_port; }
uint16_t Node::data_port() const { return impl_->listener->port(); }

}  // namespace tandem::server
