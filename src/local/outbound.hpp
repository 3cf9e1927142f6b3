#pragma once
// Private to the service layer: the outbound step of ss-local, ss-tunnel and ss-redir, toward
// one of the servers (balancer.hpp) or, by the ACL, directly to the target.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/crypto/udp_2022.hpp"
#include "shadowsocks/crypto/udp_packet.hpp"
#include "shadowsocks/local/balancer.hpp"
#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/resolve.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// A client's first bytes: the SOCKS5 handshake, then the data that goes out with the address
/// header. On the heap while the handshake lasts, freed before the relay.
using handshake_buffer = std::array<std::uint8_t, 1024>;

/// The first of the configured server hosts, from `from` on, that resolves.
struct server_lookup {
  boost::system::error_code ec;          ///< The last error when none resolved.
  std::vector<tcp::endpoint> endpoints;  ///< Its addresses, in the order to try them.
  std::size_t next = 0;                  ///< Where to go on if these all fail.
};
/// Resolves the hosts of server `s` in order, starting at index `from`, until one resolves
/// (IPv6 addresses first with `ipv6_first`).
awaitable<server_lookup> resolve_server(const server_entry& s, bool ipv6_first, std::size_t from);

/// A connection to one target for ss-local's fronts and ss-tunnel: through ss-server, or,
/// when the ACL routes the target past the server, directly from here. A front speaks over it
/// itself (the HTTP proxy) or hands it to the relay.
class server_stream {
 public:
  /// Not connected yet.
  server_stream(net::any_io_executor ex, std::shared_ptr<service_context> ctx);

  /// Decides the route of `target` (the configuration's ACL; through a server without one),
  /// then connects within the configured timeout: to a server chosen by the balancer (its
  /// SIP003 plugin, or its hosts in order), another one when that fails (marked down), or to
  /// the target itself. `timed_out` when the time passed.
  awaitable<boost::system::error_code> connect(const target_address& target);
  /// Connects to server `u` alone (its plugin, or its hosts in order) before `limit` passes
  /// (which must close this stream): the health checks.
  awaitable<boost::system::error_code> connect_to(const upstream& u, const deadline& limit);
  /// The server connected to; null when direct or not connected.
  const upstream* server() const noexcept { return server_; }
  /// True when connected to the target directly (no encryption, no server).
  bool direct() const noexcept { return direct_; }
  /// Starts the stream to `target` with `payload` in one write: the salt and the request
  /// header with it, or the payload alone on a direct connection.
  awaitable<boost::system::error_code> open(const target_address& target, bytes_view payload);
  /// Sends `data` (sealed unless direct; nothing for empty data).
  awaitable<boost::system::error_code> write(bytes_view data);
  /// The next piece of plaintext, valid until the next call; `eof` when the other side
  /// closed, `aead_auth_failed` and the like for bad data, `replayed_salt` for a stream of ours
  /// reflected back.
  awaitable<std::pair<boost::system::error_code, bytes_view>> read_some();
  /// Closes the socket (ends a pending read or write).
  void close() noexcept;
  /// True until closed.
  bool is_open() const noexcept { return sock_.is_open(); }
  /// Hands the socket (and the ciphers) to the relay with `client`, and the client
  /// connection's count (`counted`) with them; this stream is done.
  void relay(tcp::socket client, active_guard counted, relay_log log);

 private:
  awaitable<boost::system::error_code> connect_direct(const target_address& target,
                                                      std::vector<tcp::endpoint> endpoints,
                                                      const deadline& limit);
  awaitable<boost::system::error_code> connect_chosen(const deadline& limit);
  awaitable<boost::system::error_code> connect_server(const upstream& u, const deadline& limit);

  std::shared_ptr<service_context> ctx_;
  tcp::socket sock_;
  const upstream* server_ = nullptr;  // kept alive by ctx_'s list
  std::optional<aead_stream_encoder> enc_;
  std::optional<aead_stream_decoder> dec_;
  std::vector<std::uint8_t> out_;
  std::vector<std::uint8_t> in_;  // direct connections: what read_some returns
  bool checked_salt_ = false;
  bool direct_ = false;
};

/// Waits briefly (50 ms) for a client's first bytes, appended to `buf` at `have`, unless some
/// are there already: they then travel with the address header in one write.
awaitable<void> wait_first_data(tcp::socket& client, mutable_bytes buf, std::size_t& have);

/// Connects to ss-server, then sends the address header with the client's first data in one
/// sealed write and relays `client`'s socket. Shared by ss-local (after SOCKS5 CONNECT),
/// ss-tunnel and ss-redir. `have` bytes of `handshake` are data the client already sent.
awaitable<void> forward(accepted& client, const target_address& target,
                        std::unique_ptr<handshake_buffer> handshake, std::size_t have);

/// Datagrams the ACL sends past the server (ss-local's UDP ASSOCIATE, ss-tunnel): one socket
/// per address family toward the targets; answers are taken only from addresses sent to.
class udp_direct {
 public:
  /// Opens a socket of each family (a family the host lacks stays closed).
  udp_direct(net::any_io_executor ex, std::shared_ptr<service_context> ctx);

  /// Where the ACL sends `target`: empty for through the server, else the address to send to
  /// directly (a name is resolved here, and the answer cached).
  awaitable<std::optional<udp::endpoint>> route(const target_address& target);
  /// Sends `data` to `to` now (dropped if it cannot go).
  void send(const udp::endpoint& to, bytes_view data);
  /// The next answer on the socket of one family: its sender and its data, with `headroom`
  /// bytes free in front. Waits for ever when that family's socket is closed from the start;
  /// empty once `close` was called.
  awaitable<std::optional<std::pair<udp::endpoint, mutable_bytes>>> receive(bool v6);
  /// Closes both sockets (ends `receive`).
  void close();

 private:
  std::shared_ptr<service_context> ctx_;
  udp::socket v4_;
  udp::socket v6_;
  std::vector<std::uint8_t> in4_;
  std::vector<std::uint8_t> in6_;
  std::set<udp::endpoint> sent_to_;
  std::map<std::string, std::optional<udp::endpoint>> names_;  // "host:port" -> route
  bool closed_ = false;
};

/// The client side of the UDP relay: one socket to a server (the balancer's choice, kept for
/// the association's life), sealing what goes out and opening what comes back; with a 2022
/// method, one client session (SIP022 3.2).
class udp_upstream {
 public:
  /// Not open yet.
  explicit udp_upstream(net::any_io_executor ex);

  /// Chooses a server of `ctx` (which must outlive this), resolves it (the first host that
  /// resolves; a SIP003u plugin's port with plugin_mode tcp_and_udp) and opens a socket of its
  /// family; another server when one does not resolve. False when none is left.
  awaitable<bool> open(const service_context& ctx);
  /// Seals `payload` (address + data) and sends it to the server.
  void send(bytes_view payload);
  /// The next authentic packet from the server, opened in place: address + data, with at
  /// least 16 bytes (the salt it replaced) free in front of it. Empty when the socket closed.
  awaitable<std::optional<mutable_bytes>> receive();
  /// Closes the socket (ends `receive`).
  void close();

 private:
  udp::socket sock_;
  udp::endpoint server_;
  std::optional<udp_packet_cipher> cipher_;
  std::unique_ptr<sip022::udp_codec> codec_;       // 2022 methods only
  std::optional<sip022::client_session> session_;  // 2022 methods only
  std::vector<std::uint8_t> out_;
  std::vector<std::uint8_t> in_;
};

}  // namespace ss
