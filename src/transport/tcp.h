// Framed TCP connections for the data plane (asio underneath, kept out of this header).
// Blocking, one thread per connection; every read and write has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "transport/frame.h"

namespace tandem::transport {

struct Frame {
  FrameHeader header;
  std::vector<uint8_t> payload;
};

class FrameConn {
 public:
  static StatusOr<std::unique_ptr<FrameConn>> Connect(const std::string& host, uint16_t port,
                                                      std::chrono::milliseconds timeout);
  ~FrameConn();
  FrameConn(const FrameConn&) = delete;
  FrameConn& operator=(const FrameConn&) = delete;

  // A read or write that makes no progress for this long fails with kUnavailable.
  void SetTimeout(std::chrono::milliseconds timeout);
  // Shapes writes to `bytes_per_s` with a token bucket (link emulation); 0 turns it off.
  void SetRateLimit(double bytes_per_s);

  // One frame whose payload is the concatenation of `parts`.
  [[nodiscard]] Status Write(FrameType type, std::initializer_list<std::span<const uint8_t>> parts);
  StatusOr<Frame> Read();
  // Shuts the socket down: a blocked Read or Write in another thread fails promptly.
  void Shutdown();
  const std::string& peer() const;

  struct Impl;
  explicit FrameConn(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class FrameListener {
 public:
  // Binds `host:port` (port 0: any free port).
  static StatusOr<std::unique_ptr<FrameListener>> Listen(const std::string& host, uint16_t port);
  ~FrameListener();
  uint16_t port() const;
  // Blocks until a peer connects or Close() is called (then kUnavailable, within 200 ms).
  StatusOr<std::unique_ptr<FrameConn>> Accept();
  void Close();

  struct Impl;
  explicit FrameListener(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::transport
