#pragma once
/// \file What a connection or datagram of the service layer works with: the configuration in
/// force when it began, and the state the whole process shares across reloads.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "shadowsocks/config/config.hpp"
#include "shadowsocks/crypto/replay_filter.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/connection_count.hpp"
#include "shadowsocks/runtime/log_limiter.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/socket_io.hpp"

namespace ss {

/// What the whole process shares across configuration reloads.
struct process_state {
  /// With a replay filter of `replay_capacity` salts per generation.
  explicit process_state(std::size_t replay_capacity) : replay(replay_capacity) {}
  std::atomic<std::uint64_t> next_id{1};  ///< Connection ids for logs.
  connection_count active;                ///< Open connections (the drain waits for zero).
  replay_filter replay;                   ///< Salts seen and sent (both directions), 2017.
  recent_salts salts_2022;                ///< Request salts of the last 60 s, 2022 methods.
  log_limiter invalid_requests;           ///< Rate limit of "invalid request" warnings.
  log_limiter refused_targets;            ///< Rate limit of outbound-guard warnings.
  log_limiter refused_clients;            ///< ss-local: rate limit of wrong-credentials warnings.
  /// ss-local, ss-tunnel: connections in a row that sent data and got nothing back.
  std::atomic<std::uint64_t> unanswered_in_a_row{0};
  log_limiter unanswered_warnings{1};  ///< Rate limit of the "server does not answer" warning.
  /// ss-local, ss-tunnel with a SIP003 plugin: where the plugin listens; connections to the
  /// server go there (and datagrams too with plugin_mode tcp_and_udp). Set before the workers
  /// start, read-only after.
  std::optional<tcp::endpoint> plugin;
};

/// What a connection works with: one configuration (the one in force when it was accepted;
/// a reload makes a new context for new connections) and the process-wide state. Read-only
/// but for the counters.
struct service_context {
  /// For `c`, with new process state (a replay filter of the configured capacity).
  explicit service_context(config c)
      : service_context(c, std::make_shared<process_state>(c.replay_filter_capacity)) {}
  /// For `c`, sharing `s` with the contexts before it.
  service_context(config c, std::shared_ptr<process_state> s)
      : cfg(std::move(c)), state(std::move(s)) {}
  config cfg;                            ///< Validated configuration.
  std::shared_ptr<process_state> state;  ///< Kept alive by every context that uses it.

  /// The socket options of the configuration (ss-server's connections to targets).
  socket_options sockets() const noexcept { return {cfg.no_delay, cfg.fast_open, false}; }
  /// The same for ss-local's and ss-tunnel's connections to the server: with `mptcp`.
  socket_options to_server() const noexcept { return {cfg.no_delay, cfg.fast_open, cfg.mptcp}; }
};

/// The context new connections and datagrams get: replaced as a whole on reload.
using context_slot = std::atomic<std::shared_ptr<service_context>>;

/// The start every accepted TCP connection shares: counted as open while it lives, given an
/// id and a printable peer for its log lines, and tuned.
struct connection {
  /// Counts the connection, takes the next id, tunes `s`.
  connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from);
  active_guard guard;  ///< Open while this lives.
  std::uint64_t id;    ///< For log lines ("#12").
  std::string peer;    ///< "1.2.3.4:5".
};

/// libev's `--mtu`: a datagram of `n` bytes that the interface would fragment gets a debug
/// line (it is relayed all the same).
void note_datagram_size(const config& c, std::size_t n);

/// The relay options of a connection under `ctx`: its idle timeout, the open-connection count,
/// and (with `check_replay`, for the 2017 methods only) the replay filter for the incoming
/// stream's salt.
relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay);

}  // namespace ss
