#include "transport/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fstream>
#include <random>
#include <sstream>

namespace tandem::transport {

StatusOr<std::string> ReadClusterKey(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound(path + ": cannot read the cluster key file");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.size() < 16) {
    return InvalidArgument(path +
                           ": the cluster key must be at least 16 bytes (try: head -c 32 "
                           "/dev/urandom | base64 > " +
                           path + ")");
  }
  return key;
}

Nonce RandomNonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) {
    std::random_device rd;  // OpenSSL's generator failed: fall back to the OS's
    for (auto& b : n) b = static_cast<uint8_t>(rd());
  }
  return n;
}

Proof ComputeProof(std::string_view key, std::string_view label, const Nonce& peer_nonce,
                   std::span<const uint8_t> fields) {
  std::vector<uint8_t> msg(label.begin(), label.end());
  msg.insert(msg.end(), peer_nonce.begin(), peer_nonce.end());
  msg.insert(msg.end(), fields.begin(), fields.end());
  Proof p{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), msg.data(), msg.size(), p.data(),
       &len);
  return p;
}

bool ProofEquals(const Proof& a, const Proof& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tandem::transport
