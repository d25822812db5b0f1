#include "runtime/kv_stream.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "base/clock.h"
#include "model/forward.h"
#include "transport/auth.h"

namespace tandem::runtime {
namespace {

// An f16 cache streamed with the F16 codec: the wire carries the cache's own halves, which are
// sent and stored as they are (the same bits as widening to float32 and rounding back).
bool HalfAsItIs(kv::KvCodec codec, const kv::KvCache& cache) {
  return codec == kv::KvCodec::kF16 && cache.precision() == kv::KvPrecision::kF16;
}

using transport::FrameConn;
using transport::FrameType;

constexpr char kHelloLabel[] = "tandem-kv-hello";
constexpr char kRequestLabel[] = "tandem-kv-request";

char Hex(int v) { return "0123456789abcdef"[v & 15]; }
std::string Hex64(uint64_t x) {
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, x >>= 4) s[i] = Hex(static_cast<int>(x));
  return s;
}

Status SendError(FrameConn& conn, const Status& st) {
  (void)conn.Write(FrameType::kError,
                   {transport::EncodeError({static_cast<uint32_t>(st.code()), st.message()})});
  return st;
}

// A frame of the expected type, or the peer's Error as a Status.
StatusOr<transport::Frame> ReadExpect(FrameConn& conn, FrameType want, const char* what) {
  ASSIGN_OR_RETURN(transport::Frame f, conn.Read());
  if (f.header.type == FrameType::kError) {
    ASSIGN_OR_RETURN(transport::ErrorFrame e, transport::DecodeError(f.payload));
    return Status(static_cast<StatusCode>(std::min<uint32_t>(e.code, 7)),
                  conn.peer() + " refused: " + e.message);
  }
  if (f.header.type != want) {
    return DataLoss(std::string("expected ") + what + " from " + conn.peer());
  }
  return f;
}

Status CheckSameModel(const transport::Hello& mine, const transport::Hello& theirs) {
  if (theirs.protocol_version != transport::kProtocolVersion) {
    return Unimplemented("KV protocol version " + std::to_string(theirs.protocol_version) +
                         " (this node speaks " + std::to_string(transport::kProtocolVersion) + ")");
  }
  if (theirs.model_fingerprint != mine.model_fingerprint || theirs.n_layers != mine.n_layers ||
      theirs.n_kv_heads != mine.n_kv_heads || theirs.head_dim != mine.head_dim) {
    return InvalidArgument("model fingerprint mismatch: node " + mine.node_id + " serves model " +
                           Hex64(mine.model_fingerprint) + ", node " + theirs.node_id +
                           " has model " + Hex64(theirs.model_fingerprint) +
                           " (load the same GGUF on both)");
  }
  if (theirs.tokenizer_hash != mine.tokenizer_hash) {
    return InvalidArgument("tokenizer mismatch between " + mine.node_id + " and " + theirs.node_id);
  }
  if (!kv::KvCodecFromByte(theirs.codec)) {
    return InvalidArgument("unknown KV codec " + std::to_string(theirs.codec));
  }
  return OkStatus();
}

// P's send queue: the compute thread pushes finished (layer, t0, t1); one thread sends.
struct SendItem {
  int layer;
  int64_t t0, t1;
  int64_t compute_done_ns;
};

class Sender {
 public:
  Sender(FrameConn& conn, const kv::KvCache& cache, kv::KvCodec codec)
      : conn_(conn), cache_(cache), codec_(codec), thread_([this] { Run(); }) {}
  // On an early return the caller already has the error to report; this only stops the thread.
  ~Sender() { (void)Finish(); }

  void Push(const SendItem& item) {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(item);
    cv_.notify_one();
  }
  // Waits for everything queued to be sent.
  Status Finish() {
    {
      std::lock_guard<std::mutex> l(mu_);
      closed_ = true;
      cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    return status_;
  }
  uint64_t checksum() const { return checksum_.value(); }
  uint64_t bytes() const { return bytes_; }
  const std::vector<int64_t>& send_end_ns() const { return send_end_ns_; }

 private:
  void Run() {
    while (true) {
      SendItem item;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;
        item = queue_.front();
        queue_.pop_front();
      }
      if (status_.ok()) status_ = Send(item);  // after a failure, drain without sending
    }
  }

  Status Send(const SendItem& it) {
    const auto& lay = cache_.layout();
    const uint64_t n = kv::KvEncodedBytes(codec_, it.t1 - it.t0, lay.n_kv_heads, lay.head_dim);
    std::span<const uint8_t> k, v;
    if (HalfAsItIs(codec_, cache_)) {  // the rows are sent from the cache as they are
      k = cache_.HalfBytesK(it.layer, it.t0, it.t1);
      v = cache_.HalfBytesV(it.layer, it.t0, it.t1);
    } else {
      k_.resize(n);
      v_.resize(n);
      rows_.resize(static_cast<size_t>((it.t1 - it.t0) * lay.row_elems()));
      cache_.ReadK(it.layer, it.t0, it.t1, rows_.data());
      kv::KvEncode(codec_, rows_, lay.n_kv_heads, lay.head_dim, k_);
      cache_.ReadV(it.layer, it.t0, it.t1, rows_.data());
      kv::KvEncode(codec_, rows_, lay.n_kv_heads, lay.head_dim, v_);
      k = k_;
      v = v_;
    }
    checksum_.Add(k);
    checksum_.Add(v);
    transport::KvLayerHeader h{static_cast<uint32_t>(it.layer),
                               static_cast<uint32_t>(it.t0),
                               static_cast<uint32_t>(it.t1),
                               static_cast<uint8_t>(codec_),
                               n,
                               n,
                               it.compute_done_ns,
                               NowNs()};
    const auto head = transport::EncodeKvLayerHeader(h);
    RETURN_IF_ERROR(conn_.Write(FrameType::kKvLayer, {head, k, v}));
    send_end_ns_.push_back(NowNs());
    bytes_ += 2 * n;
    return OkStatus();
  }

  FrameConn& conn_;
  const kv::KvCache& cache_;
  kv::KvCodec codec_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SendItem> queue_;
  bool closed_ = false;
  Status status_;
  transport::KvChecksum checksum_;
  uint64_t bytes_ = 0;
  std::vector<int64_t> send_end_ns_;
  std::vector<uint8_t> k_, v_;
  std::vector<float> rows_;  // one layer's K or V rows as float32, for the codec
  std::thread thread_;       // last: starts after every member above exists
};

// P: handshake up to a verified request.
StatusOr<transport::PrefillRequest> AcceptRequest(const model::LlamaModel& model, FrameConn& conn,
                                                  const ServePrefillOptions& opts) {
  ASSIGN_OR_RETURN(transport::Frame f, ReadExpect(conn, FrameType::kHello, "Hello"));
  ASSIGN_OR_RETURN(transport::Hello theirs, transport::DecodeHello(f.payload));
  const auto codec = kv::KvCodecFromByte(theirs.codec);
  transport::Hello mine = LocalHello(model, opts.node_id, codec.value_or(kv::KvCodec::kF16));
  if (opts.cluster_key.empty()) {
    return SendError(conn, Unavailable("node " + opts.node_id +
                                       " has no cluster key and refuses remote work "
                                       "(start it with --cluster-key-file)"));
  }
  if (Status st = CheckSameModel(mine, theirs); !st.ok()) return SendError(conn, st);
  mine.nonce = transport::RandomNonce();
  mine.proof = transport::ComputeProof(opts.cluster_key, kHelloLabel, theirs.nonce,
                                       transport::HelloProofBytes(mine));
  RETURN_IF_ERROR(conn.Write(FrameType::kHello, {transport::EncodeHello(mine)}));
  ASSIGN_OR_RETURN(f, ReadExpect(conn, FrameType::kPrefillRequest, "PrefillRequest"));
  ASSIGN_OR_RETURN(transport::PrefillRequest req, transport::DecodePrefillRequest(f.payload));
  const transport::Proof want = transport::ComputeProof(opts.cluster_key, kRequestLabel, mine.nonce,
                                                        transport::PrefillRequestProofBytes(req));
  if (!transport::ProofEquals(want, req.proof)) {
    return SendError(conn, InvalidArgument("cluster key proof rejected: node " + theirs.node_id +
                                           " does not hold this cluster's key"));
  }
  if (req.codec != theirs.codec || req.tokens.empty()) {
    return SendError(conn, InvalidArgument("bad prefill request"));
  }
  if (!kv::KvPrecisionFromByte(req.kv_type)) {
    return SendError(conn, InvalidArgument("prefill request: unknown KV cache type " +
                                           std::to_string(req.kv_type)));
  }
  return req;
}

}  // namespace

transport::Hello LocalHello(const model::LlamaModel& model, const std::string& node_id,
                            kv::KvCodec codec) {
  transport::Hello h;
  h.node_id = node_id;
  h.model_fingerprint = model.fingerprint();
  h.tokenizer_hash = model.tokenizer().Fingerprint();
  h.n_layers = static_cast<uint32_t>(model.config().n_layers);
  h.n_kv_heads = static_cast<uint32_t>(model.config().n_kv_heads);
  h.head_dim = static_cast<uint32_t>(model.config().head_dim);
  h.codec = static_cast<uint8_t>(codec);
  return h;
}

StatusOr<ServedPrefill> ServePrefill(const model::LlamaModel& model, FrameConn& conn,
                                     const ServePrefillOptions& opts) {
  conn.SetTimeout(std::chrono::milliseconds(10000));
  ASSIGN_OR_RETURN(transport::PrefillRequest req, AcceptRequest(model, conn, opts));
  const kv::KvCodec codec = *kv::KvCodecFromByte(req.codec);
  const int64_t n = static_cast<int64_t>(req.tokens.size());
  // The decode node's cache type: P's attention then reads the values D's will hold, and the
  // tokens equal those of a prefill on D.
  auto cache = kv::KvCache::Create(model::KvLayoutFor(model.config(), n),
                                   *kv::KvPrecisionFromByte(req.kv_type));
  if (!cache.ok()) return SendError(conn, cache.status());
  conn.SetRateLimit(opts.link_bytes_per_s);

  ServedPrefill served{req.request_id, conn.peer(), n};
  model::ForwardOptions fo;
  fo.pool = opts.pool;
  model::Forward fwd(model, *cache, fo);
  std::optional<Pacer> pacer;
  if (opts.emulation.enabled()) {
    pacer.emplace(model, opts.emulation);
    fwd.set_observer(&*pacer);
  }
  Sender sender(conn, *cache, codec);
  std::vector<SendItem> held;  // after-prefill mode
  const bool streamed = req.mode == transport::PrefillMode::kStreamed;
  auto hook = [&](int layer, int64_t t0, int64_t t1) {
    const SendItem item{layer, t0, t1, NowNs()};
    if (streamed) {
      sender.Push(item);
    } else {
      held.push_back(item);
    }
  };
  const int64_t chunk = req.chunk_tokens > 0 ? req.chunk_tokens : n;
  const int64_t start_ns = NowNs();
  for (int64_t p = 0; p < n; p += chunk) {
    const auto part = std::span<const int32_t>(req.tokens).subspan(p, std::min(chunk, n - p));
    if (Status st = fwd.Prefill(part, p, nullptr, hook); !st.ok()) {
      (void)sender.Finish();
      return SendError(conn, st);
    }
  }
  const int64_t end_ns = NowNs();
  for (const SendItem& item : held) sender.Push(item);
  RETURN_IF_ERROR(sender.Finish());
  transport::End end{sender.checksum(), start_ns, end_ns, sender.send_end_ns()};
  RETURN_IF_ERROR(conn.Write(FrameType::kEnd, {transport::EncodeEnd(end)}));
  served.bytes = sender.bytes();
  served.prefill_s = (end_ns - start_ns) / 1e9;
  if (pacer) {
    served.emulation_saturated = pacer->saturated();
    served.emulation_paced = pacer->paced();
  }
  served.stream_s = (NowNs() - start_ns) / 1e9;
  return served;
}

namespace {

// D: writes one KvLayer frame into the cache.
Status ReceiveLayer(const transport::KvLayerView& v, kv::KvCodec codec, int64_t n,
                    kv::KvCache& cache, RemotePrefillResult& r) {
  const auto& h = v.header;
  const auto& lay = cache.layout();
  if (static_cast<int>(h.layer) >= lay.n_layers || h.t1 > n ||
      h.codec != static_cast<uint8_t>(codec)) {
    return DataLoss("KvLayer frame out of range (layer " + std::to_string(h.layer) + ", tokens " +
                    std::to_string(h.t0) + ".." + std::to_string(h.t1) + ")");
  }
  const int64_t rows = h.t1 - h.t0;
  if (HalfAsItIs(codec, cache)) {  // the wire's halves are the cache's
    RETURN_IF_ERROR(kv::CheckKvEncodedBytes(codec, v.k.size(), rows, lay.n_kv_heads, lay.head_dim));
    RETURN_IF_ERROR(kv::CheckKvEncodedBytes(codec, v.v.size(), rows, lay.n_kv_heads, lay.head_dim));
    cache.WriteHalfBytes(static_cast<int>(h.layer), h.t0, rows, v.k, v.v);
  } else {
    const size_t count = static_cast<size_t>(rows * lay.row_elems());
    thread_local std::vector<float> k, vv;  // the rows as float32, then into the cache's precision
    k.resize(count);
    vv.resize(count);
    RETURN_IF_ERROR(kv::KvDecode(codec, v.k, lay.n_kv_heads, lay.head_dim, k));
    RETURN_IF_ERROR(kv::KvDecode(codec, v.v, lay.n_kv_heads, lay.head_dim, vv));
    cache.Write(static_cast<int>(h.layer), h.t0, rows, k.data(), vv.data());
  }
  r.frames.push_back({static_cast<int>(h.layer), h.t0, h.t1, h.k_bytes + h.v_bytes,
                      h.compute_done_ns, h.send_start_ns, 0, NowNs()});
  r.bytes += h.k_bytes + h.v_bytes;
  return OkStatus();
}

Status FinishStream(const transport::End& end, uint64_t checksum, int64_t n,
                    const std::vector<int64_t>& tokens_per_layer, RemotePrefillResult& r) {
  if (end.checksum != checksum) {
    return DataLoss("KV checksum mismatch (corrupted stream)");
  }
  for (size_t l = 0; l < tokens_per_layer.size(); ++l) {
    if (tokens_per_layer[l] != n) {
      return DataLoss("layer " + std::to_string(l) + " arrived with " +
                      std::to_string(tokens_per_layer[l]) + " of " + std::to_string(n) + " tokens");
    }
  }
  if (end.send_end_ns.size() != r.frames.size()) return DataLoss("End timings do not match");
  for (size_t i = 0; i < r.frames.size(); ++i) r.frames[i].send_end_ns = end.send_end_ns[i];
  r.prefill_start_ns = end.prefill_start_ns;
  r.prefill_end_ns = end.prefill_end_ns;
  r.done_ns = NowNs();
  return OkStatus();
}

}  // namespace

StatusOr<RemotePrefillResult> RemotePrefill(const model::LlamaModel& model,
                                            std::span<const int32_t> tokens, kv::KvCache& cache,
                                            const RemotePrefillOptions& opts) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > cache.layout().n_ctx) return InvalidArgument("bad prompt length");
  ASSIGN_OR_RETURN(auto conn, FrameConn::Connect(opts.host, opts.data_port, opts.timeout));
  conn->SetTimeout(opts.timeout);
  transport::Hello mine = LocalHello(model, opts.node_id, opts.codec);
  mine.nonce = transport::RandomNonce();
  RETURN_IF_ERROR(conn->Write(FrameType::kHello, {transport::EncodeHello(mine)}));
  ASSIGN_OR_RETURN(transport::Frame f, ReadExpect(*conn, FrameType::kHello, "Hello"));
  ASSIGN_OR_RETURN(transport::Hello theirs, transport::DecodeHello(f.payload));
  const transport::Proof want = transport::ComputeProof(opts.cluster_key, kHelloLabel, mine.nonce,
                                                        transport::HelloProofBytes(theirs));
  if (!transport::ProofEquals(want, theirs.proof)) {
    return InvalidArgument("prefill node " + conn->peer() +
                           " failed the cluster key proof (different cluster key?)");
  }
  RETURN_IF_ERROR(CheckSameModel(mine, theirs));
  transport::PrefillRequest req{opts.request_id,
                                opts.mode,
                                static_cast<uint8_t>(opts.codec),
                                static_cast<uint8_t>(cache.precision()),
                                opts.chunk_tokens,
                                std::vector<int32_t>(tokens.begin(), tokens.end())};
  req.proof = transport::ComputeProof(opts.cluster_key, kRequestLabel, theirs.nonce,
                                      transport::PrefillRequestProofBytes(req));
  RemotePrefillResult r;
  r.peer_node_id = theirs.node_id;
  r.request_sent_ns = NowNs();
  RETURN_IF_ERROR(conn->Write(FrameType::kPrefillRequest, {transport::EncodePrefillRequest(req)}));
  transport::KvChecksum checksum;
  std::vector<int64_t> tokens_per_layer(cache.layout().n_layers, 0);
  while (true) {
    ASSIGN_OR_RETURN(transport::Frame fr, conn->Read());
    if (fr.header.type == FrameType::kKvLayer) {
      ASSIGN_OR_RETURN(transport::KvLayerView v, transport::DecodeKvLayer(fr.payload));
      checksum.Add(v.k);
      checksum.Add(v.v);
      RETURN_IF_ERROR(ReceiveLayer(v, opts.codec, n, cache, r));
      tokens_per_layer[v.header.layer] += v.header.t1 - v.header.t0;
    } else if (fr.header.type == FrameType::kEnd) {
      ASSIGN_OR_RETURN(transport::End end, transport::DecodeEnd(fr.payload));
      RETURN_IF_ERROR(FinishStream(end, checksum.value(), n, tokens_per_layer, r));
      return r;
    } else if (fr.header.type == FrameType::kError) {
      ASSIGN_OR_RETURN(transport::ErrorFrame e, transport::DecodeError(fr.payload));
      return Unavailable("prefill node " + conn->peer() + " failed: " + e.message);
    } else {
      return DataLoss("unexpected frame from " + conn->peer());
    }
  }
}

}  // namespace tandem::runtime
