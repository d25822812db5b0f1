#include "transport/tcp.h"

#include <poll.h>

#include <asio.hpp>
#include <atomic>
#include <thread>

namespace tandem::transport {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct FrameConn::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  std::string peer;
  std::chrono::milliseconds timeout{30000};
  double rate = 0;                  // bytes/s; 0: unlimited
  Clock::time_point bucket_time{};  // when the bucket is next empty

  // Waits until the socket is ready for `events` or the timeout passes.
  Status Wait(short events, const char* what) {
    pollfd p{socket.native_handle(), events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r == 0) {
      return Unavailable(std::string(what) + " " + peer + " timed out after " +
                         std::to_string(timeout.count()) + " ms");
    }
    if (r < 0) return Unavailable(std::string(what) + " " + peer + ": poll failed");
    return OkStatus();
  }

  Status ReadExactly(uint8_t* dst, size_t n) {
    while (n > 0) {
      RETURN_IF_ERROR(Wait(POLLIN, "reading from"));
      asio::error_code ec;
      const size_t got = socket.read_some(asio::buffer(dst, n), ec);
      if (ec) {
        return Unavailable("connection to " + peer + " lost while reading (" + ec.message() + ")");
      }
      dst += got;
      n -= got;
    }
    return OkStatus();
  }

  void Throttle(size_t bytes) {
    if (rate <= 0) return;
    const auto now = Clock::now();
    if (bucket_time < now) bucket_time = now;
    bucket_time += std::chrono::nanoseconds(static_cast<int64_t>(bytes / rate * 1e9));
    std::this_thread::sleep_until(bucket_time);
  }

  Status WriteAll(std::span<const uint8_t> b) {
    constexpr size_t kSlice = 64 * 1024;
    while (!b.empty()) {
      const size_t n = std::min(b.size(), kSlice);
      Throttle(n);
      size_t left = n;
      while (left > 0) {
        RETURN_IF_ERROR(Wait(POLLOUT, "writing to"));
        asio::error_code ec;
        const size_t put = socket.write_some(asio::buffer(b.data() + (n - left), left), ec);
        if (ec) {
          return Unavailable("connection to " + peer + " lost while writing (" + ec.message() +
                             ")");
        }
        left -= put;
      }
      b = b.subspan(n);
    }
    return OkStatus();
  }
};

FrameConn::FrameConn(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrameConn::~FrameConn() = default;

StatusOr<std::unique_ptr<FrameConn>> FrameConn::Connect(const std::string& host, uint16_t port,
                                                        std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->peer = host + ":" + std::to_string(port);
  impl->timeout = timeout;
  asio::error_code ec;
  tcp::resolver resolver(impl->io);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return Unavailable("cannot resolve " + impl->peer + " (" + ec.message() + ")");
  asio::error_code connect_ec = asio::error::timed_out;
  asio::async_connect(impl->socket, endpoints,
                      [&](const asio::error_code& e, const tcp::endpoint&) { connect_ec = e; });
  impl->io.run_for(timeout);
  if (connect_ec) {
    return Unavailable("cannot connect to " + impl->peer + " (" + connect_ec.message() + ")");
  }
  impl->socket.set_option(tcp::no_delay(true), ec);
  return std::make_unique<FrameConn>(std::move(impl));
}

void FrameConn::SetTimeout(std::chrono::milliseconds timeout) { impl_->timeout = timeout; }
void FrameConn::SetRateLimit(double bytes_per_s) { impl_->rate = bytes_per_s; }
const std::string& FrameConn::peer() const { return impl_->peer; }

Status FrameConn::Write(FrameType type, std::initializer_list<std::span<const uint8_t>> parts) {
  uint64_t n = 0;
  for (const auto& p : parts) n += p.size();
  RETURN_IF_ERROR(impl_->WriteAll(EncodeFrameHeader(type, n)));
  for (const auto& p : parts) RETURN_IF_ERROR(impl_->WriteAll(p));
  return OkStatus();
}

StatusOr<Frame> FrameConn::Read() {
  uint8_t head[kFrameHeaderBytes];
  RETURN_IF_ERROR(impl_->ReadExactly(head, sizeof(head)));
  Frame f;
  ASSIGN_OR_RETURN(f.header, DecodeFrameHeader(head));
  f.payload.resize(f.header.payload_bytes);
  RETURN_IF_ERROR(impl_->ReadExactly(f.payload.data(), f.payload.size()));
  return f;
}

void FrameConn::Shutdown() {
  asio::error_code ec;
  impl_->socket.shutdown(tcp::socket::shutdown_both, ec);
}

struct FrameListener::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> closed{false};
};

FrameListener::FrameListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrameListener::~FrameListener() {
  impl_->closed = true;
  asio::error_code ec;
  impl_->acceptor.close(ec);
}

StatusOr<std::unique_ptr<FrameListener>> FrameListener::Listen(const std::string& host,
                                                               uint16_t port) {
  auto impl = std::make_unique<Impl>();
  asio::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("bad listen address '" + host + "'");
  const tcp::endpoint ep(addr, port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Unavailable("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                       ec.message() + ")");
  }
  return std::make_unique<FrameListener>(std::move(impl));
}

uint16_t FrameListener::port() const { return impl_->acceptor.local_endpoint().port(); }

StatusOr<std::unique_ptr<FrameConn>> FrameListener::Accept() {
  auto conn = std::make_unique<FrameConn::Impl>();
  while (!impl_->closed) {
    pollfd p{impl_->acceptor.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // wake up to notice Close()
    asio::error_code ec;
    impl_->acceptor.accept(conn->socket, ec);
    if (ec) continue;
    const auto remote = conn->socket.remote_endpoint(ec);
    conn->peer = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    conn->socket.set_option(tcp::no_delay(true), ec);
    return std::make_unique<FrameConn>(std::move(conn));
  }
  return Unavailable("listener closed");
}

void FrameListener::Close() { impl_->closed = true; }

}  // namespace tandem::transport
