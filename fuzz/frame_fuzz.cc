// libFuzzer target for the KV frame codec: clang++ -fsanitize=fuzzer,address (see fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <span>

#include "transport/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::transport;
  const std::span<const uint8_t> b(data, size);
  (void)DecodeFrameHeader(b);
  (void)DecodeHello(b);
  (void)DecodePrefillRequest(b);
  (void)DecodeKvLayer(b);
  (void)DecodeEnd(b);
  (void)DecodeError(b);
  return 0;
}
