#pragma once
/// \file The established relay between a plaintext socket and an encrypted one. The same code
/// serves ss-local and ss-tunnel (plain: the client, secure: the server) and ss-server (plain:
/// the target, secure: the client).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/crypto/replay_filter.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/connection_count.hpp"
#include "shadowsocks/runtime/traffic.hpp"

namespace ss {

/// How one direction of a relay, or the whole relay, ended.
enum class relay_end : std::uint8_t {
  closed,        ///< EOF, or closed by us after the other direction ended.
  idle_timeout,  ///< Nothing moved in either direction for the idle timeout.
  bad_data,      ///< A chunk failed authentication or had a bad length.
  replayed,      ///< The incoming stream's salt was seen before.
  reset,         ///< The peer reset the connection.
  broken_pipe,   ///< A write to a peer that had gone.
  socket_error,  ///< Any other socket error.
};

/// "closed", "idle timeout", "bad data", ... for the connection's closing log line.
const char* to_string(relay_end e) noexcept;

/// What a relay moved, when it ends.
struct relay_summary {
  std::uint64_t up = 0;    ///< Bytes toward the target, with those sent before the relay.
  std::uint64_t down = 0;  ///< Bytes toward the client.
  relay_end ending = relay_end::closed;  ///< How it ended.
  /// The target's side (for ss-local and ss-tunnel, the server) ended its direction first,
  /// by EOF or an error, rather than the client's side, an error of ours or the idle timeout.
  bool target_ended_first = false;
  /// From the connection's accept to the first of the two directions' ends.
  steady_clock::duration first_end_after{};
};

/// What the relay's closing debug line says about the connection.
struct relay_log {
  std::uint64_t id = 0;                ///< Connection id.
  std::string what;                    ///< "peer -> target" (empty unless debug is on).
  steady_clock::time_point started{};  ///< When the connection was accepted.
  std::uint64_t early_up = 0;          ///< Bytes sent toward the target before the relay.
  bool plain_is_client = true;         ///< ss-local: plain is the client; ss-server: the target.
};

/// What a relay needs besides its sockets and ciphers.
struct relay_options {
  steady_clock::duration idle_timeout{};  ///< Idle in both directions this long: close.
  /// When set, the incoming stream's salt is checked against (and recorded in) this filter
  /// once its first chunk authenticates; a replayed one ends the relay.
  replay_filter* check_replay = nullptr;
  /// When set, the bytes relayed (payload) count here as the user's, up and down.
  traffic_counters* traffic = nullptr;
  /// Keeps `*check_replay`, the count of `counted` and `*traffic` alive.
  std::shared_ptr<const void> owner;
  /// The connection's count, handed over by the connection (required): the relay keeps it
  /// while it lives. (Declared after `owner`, so released before it.)
  active_guard counted;
  /// Called once when the relay ends (on its thread); may be empty.
  std::function<void(const relay_summary&)> on_end;
  relay_log log;  ///< The connection as its closing line names it, and which side is which.
};

/// Starts relaying `plain` <-> `secure` and returns at once; the relay owns both sockets and
/// both cipher directions from then on and runs on the sockets' executor until both
/// directions end or the connection is idle for `opts.idle_timeout` in both directions. EOF in
/// one direction half-closes the other socket (after the last chunk is flushed) while the
/// other direction keeps flowing; a hard error or bad data ends both. Never throws from its
/// handlers. `dec` may already hold buffered ciphertext; it is delivered first.
void start_relay(tcp::socket plain, tcp::socket secure, aead_stream_encoder enc,
                 aead_stream_decoder dec, relay_options opts);

/// Starts relaying between two plaintext sockets, `client` and `target` (ss-local's direct
/// connections), and returns at once: the same relay as `start_relay` without a cipher (what
/// is read is written), with its half-close, idle timeout and closing report
/// (`opts.check_replay` is not used).
void start_plain_relay(tcp::socket client, tcp::socket target, relay_options opts);

}  // namespace ss
