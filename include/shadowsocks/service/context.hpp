#pragma once
/// \file What a connection or datagram of the service layer works with: the configuration in
/// force when it began, and the state the whole process shares across reloads.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "shadowsocks/config/config.hpp"
#include "shadowsocks/crypto/replay_filter.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/connection_count.hpp"
#include "shadowsocks/runtime/log_limiter.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/socket_io.hpp"
#include "shadowsocks/runtime/traffic.hpp"

namespace ss {

/// One server a client may use, and the list to choose from (shadowsocks/local/balancer.hpp).
struct upstream;
using upstream_list = std::vector<std::shared_ptr<const upstream>>;

/// What the whole process shares across configuration reloads.
struct process_state {
  /// With a replay filter of `replay_capacity` salts per generation, and traffic counters
  /// with a slot for each of `workers` worker threads.
  explicit process_state(std::size_t replay_capacity, unsigned workers = 1)
      : replay(replay_capacity), traffic(workers) {}
  std::atomic<std::uint64_t> next_id{1};  ///< Connection ids for logs.
  connection_count active;                ///< Open connections (the drain waits for zero).
  replay_filter replay;                   ///< Salts seen and sent (both directions), 2017.
  recent_salts salts_2022;                ///< Request salts of the last 60 s, 2022 methods.
  log_limiter invalid_requests;           ///< Rate limit of "invalid request" warnings.
  log_limiter refused_targets;            ///< Rate limit of outbound-guard warnings.
  log_limiter refused_clients;  ///< ss-local: wrong credentials; ss-redir: not redirected.
  traffic_registry traffic;     ///< ss-server: every port's and user's counters.
  std::atomic<std::int64_t> udp_associations{0};  ///< UDP associations (or sessions) now.
  /// ss-local, ss-tunnel: connections in a row that sent data and got nothing back.
  std::atomic<std::uint64_t> unanswered_in_a_row{0};
  log_limiter unanswered_warnings{1};  ///< Rate limit of the "server does not answer" warning.
};

/// What one server's connections and datagrams count into (ss-server): each user's counters
/// and the port's refusals. Made when the server's configuration is put in place.
struct server_accounting {
  std::uint16_t port = 0;                               ///< The port the server is bound to.
  std::shared_ptr<traffic_counters> single;             ///< Its key's, when it has one key.
  std::vector<std::shared_ptr<traffic_counters>> keys;  ///< By member of `cfg.keys`.
  /// 2022 users (SIP023), by name.
  std::unordered_map<std::string, std::shared_ptr<traffic_counters>> users;
  std::shared_ptr<failure_counters> failures;  ///< Requests refused before a user was known.
  /// The counters of a connection's user: member `key_index` of several keys, a 2022 `user`,
  /// or the one key's.
  const std::shared_ptr<traffic_counters>& of(std::optional<std::size_t> key_index,
                                              const sip022::user* user) const;
};

/// The name the accounting gives the one key of server `c` on `port`: its name, or the port.
std::string key_owner(const config& c, std::uint16_t port);
/// The accounting of server `c` bound to `port`, its counters from `registry`; every
/// (port, user) it counts goes into `users` when given.
std::shared_ptr<const server_accounting> make_accounting(
    const config& c, std::uint16_t port, traffic_registry& registry,
    std::set<std::pair<std::uint16_t, std::string>>* users = nullptr);

/// What a connection works with: one configuration (the one in force when it was accepted;
/// a reload makes a new context for new connections) and the process-wide state. Read-only
/// but for the counters.
struct service_context {
  /// For `c`, with new process state (a replay filter of the configured capacity).
  explicit service_context(config c)
      : service_context(c, std::make_shared<process_state>(c.replay_filter_capacity)) {}
  /// For `c`, sharing `s` with the contexts before it. Whoever makes it sets `accounting`
  /// (ss-server) or `upstreams` (the others) before it is shared.
  service_context(config c, std::shared_ptr<process_state> s)
      : cfg(std::move(c)), state(std::move(s)) {}
  config cfg;                            ///< Validated configuration.
  std::shared_ptr<process_state> state;  ///< Kept alive by every context that uses it.
  /// ss-server: where its traffic counts (set before the context is shared); null: nowhere.
  std::shared_ptr<const server_accounting> accounting;
  /// ss-local, ss-tunnel, ss-redir: the servers to choose from (set before the context is
  /// shared; a list update makes a new context). Null on ss-server.
  std::shared_ptr<const upstream_list> upstreams;

  /// The socket options of the configuration (ss-server's connections to targets).
  socket_options sockets() const noexcept {
    return {cfg.no_delay, cfg.fast_open, false, cfg.outbound_fwmark};
  }
  /// The same for ss-local's and ss-tunnel's connections to the server: with `mptcp`.
  socket_options to_server() const noexcept {
    return {cfg.no_delay, cfg.fast_open, cfg.mptcp, cfg.outbound_fwmark};
  }
};

/// The context new connections and datagrams get: replaced as a whole on reload.
using context_slot = std::atomic<std::shared_ptr<service_context>>;

/// A connection's peer for log lines: "1.2.3.4:5", "[::1]:5 (alice)", formatted only when a
/// line that names it is written (not for every connection).
struct peer_address {
  tcp::endpoint endpoint;             ///< Where the connection came from.
  const std::string* user = nullptr;  ///< Its user or key, once known (outlives the connection).
  /// The text.
  std::string str() const;
};

/// The start every accepted TCP connection shares: counted as open while it lives, given an
/// id and a printable peer for its log lines, and tuned.
struct connection {
  /// Counts the connection, takes the next id, tunes `s`.
  connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from);
  active_guard guard;  ///< Counts it as open; handed to its relay, which then counts it.
  std::uint64_t id;    ///< For log lines ("#12").
  peer_address peer;   ///< Where it came from.
};

/// An accepted TCP connection as a front or ss-server serves it: its socket, the context in
/// force when it was accepted, its `connection` (counted, numbered, its peer) and when it was
/// accepted. Made first thing by the coroutine that serves the connection, which keeps it for
/// its life and hands it on by reference.
struct accepted {
  /// Takes `s` from `from` under `c`.
  accepted(tcp::socket s, const tcp::endpoint& from, std::shared_ptr<service_context> c)
      : socket(std::move(s)), ctx(std::move(c)), conn(*ctx, socket, from) {}
  tcp::socket socket;                    ///< The client's socket (moved to the relay at the end).
  std::shared_ptr<service_context> ctx;  ///< Its context (kept alive while it is served).
  connection conn;                       ///< Its id and peer, for log lines.
  steady_clock::time_point at = steady_clock::now();  ///< When it was accepted.
};

/// libev's `--mtu`: a datagram of `n` bytes that the interface would fragment gets a debug
/// line (it is relayed all the same).
void note_datagram_size(const config& c, std::size_t n);

/// The relay options of a connection under `ctx`: its idle timeout and (with `check_replay`:
/// for the 2017 methods only) the replay filter for the incoming stream's salt. The caller
/// hands over the connection's count (`counted`, from its `connection`).
relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay);

}  // namespace ss

/// A target in log lines, formatted only when the line is written.
template <>
struct fmt::formatter<ss::target_address> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const ss::target_address& t, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(t.to_string(), ctx);
  }
};

/// `peer_address` in log lines.
template <>
struct fmt::formatter<ss::peer_address> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(const ss::peer_address& p, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(p.str(), ctx);
  }
};
