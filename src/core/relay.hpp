#pragma once
// Private: the bidirectional relay between a plaintext socket and an encrypted one. The same
// code serves ss-local (client <-> server) and ss-server (target <-> client).

#include <cstdint>
#include <memory>
#include <string>

#include "net.hpp"
#include "services.hpp"
#include "shadowsocks/aead_stream.hpp"

namespace ss {

/// How a relay ended and what it moved.
struct relay_result {
  std::uint64_t to_secure = 0;    ///< Plaintext bytes sealed toward the encrypted side.
  std::uint64_t to_plain = 0;     ///< Plaintext bytes opened toward the plaintext side.
  const char* ending = "closed";  ///< "closed", "idle timeout", "bad data", "reset", ...
};

/// What the relay's closing debug line says about the connection.
struct relay_log {
  std::uint64_t id = 0;                ///< Connection id.
  std::string what;                    ///< "peer -> target" (empty unless debug is on).
  steady_clock::time_point started{};  ///< When the connection was accepted.
  std::uint64_t early_up = 0;          ///< Bytes sent toward the target before the relay.
  bool plain_is_client = true;         ///< ss-local: plain is the client; ss-server: the target.
};

/// Starts relaying `plain` <-> `secure` and returns at once; the relay owns both sockets and
/// both cipher directions from then on, counts itself in `ctx->active`, and runs on the
/// sockets' executor until both directions end or the connection is idle for `cfg.timeout`
/// in both directions. EOF in one direction half-closes the other socket (after the last chunk
/// is flushed) while the other direction keeps flowing; a hard error or bad data ends both.
/// Never throws from its handlers. `dec` may already hold buffered ciphertext; it is delivered
/// first. With `check_replay`, the salt of the incoming stream is checked against (and
/// recorded in) `ctx->replay` once its first chunk authenticates; a replayed one ends the relay.
void start_relay(tcp::socket plain, tcp::socket secure, aead_stream_encoder enc,
                 aead_stream_decoder dec, std::shared_ptr<service_context> ctx, bool check_replay,
                 relay_log log);

}  // namespace ss
