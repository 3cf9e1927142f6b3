#pragma once
// Private: the bidirectional relay between a plaintext socket and an encrypted one. The same
// code serves ss-local (client <-> server) and ss-server (target <-> client).

#include <cstdint>

#include "net.hpp"
#include "shadowsocks/aead_stream.hpp"
#include "shadowsocks/replay_filter.hpp"

namespace ss {

/// How a relay ended and what it moved.
struct relay_result {
  std::uint64_t to_secure = 0;    ///< Plaintext bytes sealed toward the encrypted side.
  std::uint64_t to_plain = 0;     ///< Plaintext bytes opened toward the plaintext side.
  const char* ending = "closed";  ///< "closed", "idle timeout", "bad data", "reset", ...
};

/// Relays until both directions end or the connection is idle for `idle` in both directions.
/// EOF in one direction half-closes the other socket (after the last chunk is flushed) while
/// the other direction keeps flowing; a hard error or bad data ends both. Never throws.
/// `dec` may already hold buffered ciphertext; it is delivered first. With `replay`, the salt
/// of the incoming stream is checked (and recorded) once its first chunk authenticates, and a
/// replayed one ends the relay ("replayed").
awaitable<relay_result> relay(tcp::socket& plain, tcp::socket& secure, aead_stream_encoder& enc,
                              aead_stream_decoder& dec, steady_clock::duration idle,
                              replay_filter* replay);

}  // namespace ss
