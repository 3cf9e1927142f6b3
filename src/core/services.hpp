#pragma once
// Private: the per-connection coroutines of the three daemons and the state they share.

#include <atomic>
#include <memory>

#include "net.hpp"
#include "shadowsocks/config.hpp"

namespace ss {

/// What every connection of one process shares. Read-only but for the counters.
struct service_context {
  /// For `cfg`.
  explicit service_context(config c) : cfg(std::move(c)) {}
  config cfg;                             ///< Validated configuration.
  std::atomic<std::uint64_t> next_id{1};  ///< Connection ids for logs.
  std::atomic<std::int64_t> active{0};    ///< Open connections (for graceful shutdown).
};

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

/// ss-local: one SOCKS5 client connection, relayed through ss-server.
awaitable<void> serve_socks5(tcp::socket client, std::shared_ptr<service_context> ctx);
/// ss-tunnel: one connection forwarded through ss-server to the fixed `-L` destination.
awaitable<void> serve_tunnel(tcp::socket client, std::shared_ptr<service_context> ctx);
/// ss-server: one encrypted client connection, relayed to the target it names.
awaitable<void> serve_shadowsocks(tcp::socket client, std::shared_ptr<service_context> ctx);

}  // namespace ss
