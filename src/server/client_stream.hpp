#pragma once
// Private to the service layer: ss-server's side of one client connection, as server_stream
// (outbound.hpp) is ss-local's side of its connection to the server.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// What reading a client's request gave: the target (and how many bytes of the plaintext the
/// header took), a protocol error, or a socket that ended before the header was complete.
struct request_outcome {
  decoded<target_address> header;          ///< Done, an error, or "more" with `socket_error`.
  boost::system::error_code socket_error;  ///< Why the socket ended first.
};

/// The encrypted stream from one client of ss-server: the key that opens it (found among the
/// port's keys, or named by its identity header), the request read from it, and the relay it
/// ends in. It reads only what has arrived and never answers bad data.
class client_stream {
 public:
  /// The stream of `client` (which outlives it), not read yet.
  explicit client_stream(accepted& client);

  /// Reads until the request header is complete: finds the key first when the port has
  /// several (2017), checks the salt against the replay filters once the first chunk
  /// authenticates, and keeps any data that came with the header.
  awaitable<request_outcome> read_request();
  /// True when `o` is no request: the deadline `limit` passed, the client closed first, or it
  /// was bad data, which is then refused quietly (counted, logged at a limited rate, read and
  /// discarded until the client gives up).
  awaitable<bool> failed(const request_outcome& o, const deadline& limit);
  /// The user (SIP023) or key name the stream was opened with; null for a port's one key.
  const std::string* user_name() const noexcept;
  /// Sends the data that came with the header (after its `header_size` bytes) to `remote`,
  /// starts the user's counters and hands both sockets to the relay; this stream is done.
  awaitable<void> relay(tcp::socket remote, std::size_t header_size, relay_log log);

 private:
  awaitable<request_outcome> read_header();
  awaitable<std::optional<request_outcome>> find_key();
  awaitable<void> refuse_quietly(errc why);

  accepted& client_;
  const master_key* key_;
  std::optional<std::size_t> key_index_;  // with several keys: which one opened it
  const std::string* key_name_ = nullptr;
  std::optional<aead_stream_decoder> dec_;
  std::vector<std::uint8_t> plain_;  // the request header and the data after it
};

}  // namespace ss
