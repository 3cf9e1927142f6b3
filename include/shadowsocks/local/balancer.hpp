#pragma once
/// \file A client's servers (ss-local, ss-tunnel, ss-redir): each server's health (a moving
/// window of checks), the rule that picks the server of a new connection or UDP association,
/// and the health checks that ask for a URL through every server.
///
/// The rule (docs/configuration.md, "Several servers"): of the servers not yet tried for this
/// connection that carry its protocol, the up ones (all of them when none is up); of those,
/// the ones whose score is within 1.5 times the best score plus 20 ms (a server not checked
/// yet counts as the best); one of them at random, in proportion to its weight. A server is
/// down from a failed check or a failed connect until a check succeeds.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shadowsocks/config/config.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// How one server has been doing: its last checks, whether it is up, and what it was used
/// for. Thread-safe; shared by every connection and kept while the server stays in the list.
class server_health {
 public:
  /// Checks in the moving window.
  static constexpr std::size_t window = 10;
  /// What a report changed.
  enum class change : std::uint8_t { none, went_down, came_back };

  /// One check: its round trip, or none when it failed.
  change record_check(std::optional<std::chrono::microseconds> rtt);
  /// A connection could not connect to it: down at once, until a check succeeds.
  change record_connect_failure();
  /// False from a failed check or connect until a check succeeds.
  bool up() const noexcept { return up_.load(std::memory_order_relaxed); }
  /// The median round trip of the window's successful checks, times one plus twice the
  /// share of failed ones; none before a check succeeded.
  std::optional<std::chrono::microseconds> score() const noexcept;
  /// The last successful check's round trip; none before one.
  std::optional<std::chrono::microseconds> last_rtt() const noexcept;
  /// The window's checks, oldest first (an upgrade hands them to the new process, which
  /// records them again).
  std::vector<std::optional<std::chrono::microseconds>> checks() const;
  /// Starts a check unless one is running: true when the caller is to run it.
  bool begin_check() noexcept { return !checking_.exchange(true); }
  /// The check started by `begin_check` ended.
  void end_check() noexcept { checking_.store(false); }

  std::atomic<std::uint64_t> chosen_tcp{0};        ///< Connections it was chosen for.
  std::atomic<std::uint64_t> chosen_udp{0};        ///< UDP associations it was chosen for.
  std::atomic<std::uint64_t> connect_failures{0};  ///< Connections that could not connect.
  std::atomic<std::uint64_t> checks_ok{0};         ///< Checks that succeeded.
  std::atomic<std::uint64_t> checks_failed{0};     ///< Checks that failed.

 private:
  mutable std::mutex m_;
  std::deque<std::optional<std::chrono::microseconds>> window_;  // newest last
  std::atomic<bool> up_{true};
  std::atomic<std::int64_t> score_us_{-1};     // -1: none
  std::atomic<std::int64_t> last_rtt_us_{-1};  // -1: none
  std::atomic<bool> checking_{false};
};

/// One server of a client: its settings, where its SIP003 plugin listens, and its health.
struct upstream {
  server_entry cfg;                       ///< Its hosts, port, key, plugin and weights.
  std::optional<tcp::endpoint> plugin;    ///< Where its plugin listens; none: no plugin.
  std::shared_ptr<server_health> health;  ///< Never null.
  /// "alice (1.2.3.4:8388)", or "1.2.3.4:8388" for a server without a name.
  std::string label() const;
  /// "1.2.3.4:8388", "[2001:db8::1]:8388" (its hosts, comma-separated, when it has several).
  std::string address() const;
  /// What tells servers apart across reloads and list updates: the health of the same
  /// server is kept ("host:port method key-fingerprint plugin options").
  std::string identity() const;
  /// True when it carries UDP (`mode`) or TCP.
  bool carries(bool udp) const noexcept { return udp ? cfg.udp_enabled() : cfg.tcp_enabled(); }
  /// Its weight for TCP or UDP.
  double weight(bool udp) const noexcept { return udp ? cfg.udp_weight : cfg.tcp_weight; }
};

/// The rule above, with `random01` in [0, 1) making the last choice; null when no server is
/// left to try.
const upstream* choose_upstream(const upstream_list& list, bool udp,
                                std::span<const upstream* const> tried, double random01);
/// The same with a random number of the calling thread's own generator.
const upstream* choose_upstream(const upstream_list& list, bool udp,
                                std::span<const upstream* const> tried);

/// Logs a change of a server's health ("server X is down: why", "server X is back").
void log_health_change(const upstream& u, server_health::change c, std::string_view why);

/// The health checks of a client's servers: every `check_interval`, an HTTP GET of the
/// `check_url` through each server of the context then in `slot` (at most one check per
/// server at a time), each with `max_server_rtt` to answer. With one server there is nothing
/// to choose, and nothing is checked.
class health_checker {
 public:
  /// Checks on `ex` (the control thread's loop) once started.
  health_checker(net::any_io_executor ex,
                 std::shared_ptr<std::atomic<std::shared_ptr<service_context>>> slot);
  ~health_checker();
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;
  /// The first round at once, then every interval.
  void start();
  /// No more rounds (checks under way finish on their own).
  void stop();

  struct state;  ///< Shared with the rounds' coroutine.

 private:
  std::shared_ptr<state> st_;
};

}  // namespace ss
