#pragma once
// Private: the per-connection coroutines of the three daemons and the state they share.

#include <atomic>
#include <memory>

#include "net.hpp"
#include "shadowsocks/config.hpp"
#include "shadowsocks/socks5.hpp"

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

/// Sends a SOCKS5 reply with BND.ADDR/BND.PORT `bound`; false if the write failed.
awaitable<bool> send_socks5_reply(tcp::socket& s, socks5::reply_code rep,
                                  const target_address& bound);

/// ss-local: relays one SOCKS5 UDP ASSOCIATE (RFC 1928 section 7) until `control` closes:
/// binds a UDP socket on the address the client connected to, replies with it, and relays
/// datagrams from the client's IP (and port, if `hint` names one) through the server.
awaitable<void> serve_udp_associate(tcp::socket& control, const target_address& hint,
                                    service_context& ctx, std::uint64_t id,
                                    const std::string& peer);
/// ss-server: the UDP relay on one listening socket (runs until the socket is closed).
awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock,
                               std::shared_ptr<service_context> ctx);
/// ss-tunnel: datagrams to the local port go to the `-L` destination through the server.
awaitable<void> run_udp_tunnel(std::shared_ptr<udp::socket> sock,
                               std::shared_ptr<service_context> ctx);

/// ss-local: one SOCKS5 client connection, relayed through ss-server.
awaitable<void> serve_socks5(tcp::socket client, std::shared_ptr<service_context> ctx);
/// ss-tunnel: one connection forwarded through ss-server to the fixed `-L` destination.
awaitable<void> serve_tunnel(tcp::socket client, std::shared_ptr<service_context> ctx);
/// ss-server: one encrypted client connection, relayed to the target it names.
awaitable<void> serve_shadowsocks(tcp::socket client, std::shared_ptr<service_context> ctx);

}  // namespace ss
