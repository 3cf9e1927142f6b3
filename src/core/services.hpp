#pragma once
// Private: the per-connection coroutines of the three daemons and the state they share.

#include <atomic>
#include <memory>
#include <mutex>

#include "net.hpp"
#include "shadowsocks/config.hpp"
#include "shadowsocks/replay_filter.hpp"
#include "shadowsocks/socks5.hpp"

namespace ss {

/// Lets through at most `per_second` log lines a second and counts the rest, so that a flood
/// of bad connections cannot flood the log (or the disk). Thread-safe.
class log_limiter {
 public:
  /// At most `per_second` lines a second.
  explicit log_limiter(unsigned per_second = 10) : per_second_(per_second) {}
  /// True if a line may be logged now; `suppressed` is then the number held back since the
  /// last line that was let through (to be mentioned in it).
  bool allow(std::uint64_t& suppressed);

 private:
  std::mutex mutex_;
  unsigned per_second_;
  steady_clock::time_point window_{};
  unsigned in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

/// What the whole process shares across configuration reloads.
struct process_state {
  /// With a replay filter of `replay_capacity` salts per generation.
  explicit process_state(std::size_t replay_capacity) : replay(replay_capacity) {}
  std::atomic<std::uint64_t> next_id{1};  ///< Connection ids for logs.
  std::atomic<std::int64_t> active{0};    ///< Open connections (for graceful shutdown).
  replay_filter replay;                   ///< Salts seen and sent (both directions).
  log_limiter invalid_requests;           ///< Rate limit of "invalid request" warnings.
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
      : cfg(std::move(c)),
        state(std::move(s)),
        next_id(state->next_id),
        active(state->active),
        replay(state->replay),
        invalid_requests(state->invalid_requests) {}
  config cfg;                            ///< Validated configuration.
  std::shared_ptr<process_state> state;  ///< Kept alive by every context that uses it.
  std::atomic<std::uint64_t>& next_id;   ///< `state->next_id`.
  std::atomic<std::int64_t>& active;     ///< `state->active`.
  replay_filter& replay;                 ///< `state->replay`.
  log_limiter& invalid_requests;         ///< `state->invalid_requests`.
};

/// The context new connections and datagrams get: replaced as a whole on reload.
using context_slot = std::atomic<std::shared_ptr<service_context>>;

/// Counts a connection as open for as long as it lives.
class active_guard {
 public:
  /// Counts one more.
  explicit active_guard(std::atomic<std::int64_t>& n) : n_(n) { ++n_; }
  ~active_guard() { --n_; }
  active_guard(const active_guard&) = delete;
  active_guard& operator=(const active_guard&) = delete;

 private:
  std::atomic<std::int64_t>& n_;
};

/// Sends a SOCKS5 reply with BND.ADDR/BND.PORT `bound`; false if the write failed.
awaitable<bool> send_socks5_reply(tcp::socket& s, socks5::reply_code rep,
                                  const target_address& bound);

/// ss-local: relays one SOCKS5 UDP ASSOCIATE (RFC 1928 section 7) until `control` closes:
/// binds a UDP socket on the address the client connected to, replies with it, and relays
/// datagrams from the client's IP (and port, if `hint` names one) through the server.
awaitable<void> serve_udp_associate(tcp::socket& control, const target_address& hint,
                                    service_context& ctx, std::uint64_t id,
                                    const std::string& peer);
/// ss-server: the UDP relay on one listening socket (runs until the socket is closed). Each
/// datagram is served under the context in `slot`; when a reload changes the key, the
/// associations made under the old one are dropped.
awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock, const context_slot& slot);
/// ss-tunnel: datagrams to the local port go to the `-L` destination through the server. A
/// sender's session keeps the context it started with; new senders get the one in `slot`.
awaitable<void> run_udp_tunnel(std::shared_ptr<udp::socket> sock, const context_slot& slot);

/// ss-local: one SOCKS5 client connection, relayed through ss-server.
awaitable<void> serve_socks5(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx);
/// ss-tunnel: one connection forwarded through ss-server to the fixed `-L` destination.
awaitable<void> serve_tunnel(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx);
/// ss-server: one encrypted client connection, relayed to the target it names.
awaitable<void> serve_shadowsocks(tcp::socket client, tcp::endpoint from,
                                  std::shared_ptr<service_context> ctx);

}  // namespace ss
