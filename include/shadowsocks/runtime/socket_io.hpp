#pragma once
/// \file Direct, non-blocking socket calls for the data paths (one system call each, no trip
/// through the scheduler), the socket options a proxied connection gets, and the endpoint
/// conversions the relays share.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/platform.hpp"

namespace ss {

/// The socket options of proxied TCP sockets (from the configuration's `no_delay` and
/// `fast_open`).
struct socket_options {
  bool no_delay = false;   ///< TCP_NODELAY on every proxied socket.
  bool fast_open = false;  ///< TCP Fast Open on outgoing connections.
  bool mptcp = false;      ///< Multipath TCP on outgoing connections.
  std::uint32_t mark = 0;  ///< SO_MARK on outgoing sockets (0: none).
};

/// Sets SO_MARK `mark` on `fd` (nothing for 0); false, errno set, when refused (it needs
/// CAP_NET_ADMIN).
bool set_mark(platform::socket_handle fd, std::uint32_t mark);

/// Opens `s` (a socket or an acceptor) for `protocol`: with Multipath TCP (IPPROTO_MPTCP,
/// Linux 5.6+) when `mptcp` is set and the kernel has it, else plain TCP (the first fallback
/// is logged as a warning).
void open_tcp(tcp::socket& s, const tcp& protocol, bool mptcp, boost::system::error_code& ec);
/// The same for a listener.
void open_tcp(tcp::acceptor& a, const tcp& protocol, bool mptcp, boost::system::error_code& ec);

/// Applies `o` to a connected socket.
void tune_socket(tcp::socket& s, const socket_options& o);
/// Enables TCP Fast Open on a socket about to connect (TCP_FASTOPEN_CONNECT, Linux >= 4.11).
void enable_fast_open_connect(platform::socket_handle fd);

/// True for the errors that mean "nothing now, try after a readiness wait" (EAGAIN).
inline bool would_block(const boost::system::error_code& ec) {
  return ec == net::error::would_block || ec == net::error::try_again;
}

/// Reads what is already there without waiting (recv with MSG_DONTWAIT: no mode switch, no
/// extra system call). `would_block` when nothing is; `eof` at the end of the stream.
std::size_t read_now(tcp::socket& s, mutable_bytes into, boost::system::error_code& ec);

/// Sends what the socket takes now, without waiting (sendmsg with MSG_DONTWAIT, at most 16
/// buffers): the number of bytes sent; `ec` is set (`would_block` when nothing went) only when
/// that is zero because of an error.
std::size_t write_now(tcp::socket& s, std::span<const net::const_buffer> data,
                      boost::system::error_code& ec);

/// Reads and discards until the peer closes, the socket is closed, or an error: after bad data
/// (the same reaction whatever was wrong) and on a SOCKS5 UDP ASSOCIATE's control connection.
awaitable<void> read_until_closed(tcp::socket& s);

/// A receive buffer larger than any UDP payload (65527 bytes over IPv4), so recvfrom never
/// truncates a datagram without our knowing.
inline constexpr std::size_t datagram_buffer = 65536;

/// The next datagram: taken at once if one is queued (recvfrom with MSG_DONTWAIT), else after
/// waiting for readability.
awaitable<std::pair<boost::system::error_code, std::size_t>> receive_datagram(udp::socket& s,
                                                                              mutable_bytes into,
                                                                              udp::endpoint& from);
/// Sends one datagram now; if it cannot go (a full buffer, too large), it is dropped with a
/// debug line naming `what`: nothing is queued.
void send_now(udp::socket& s, bytes_view data, const udp::endpoint& to, const char* what);

/// The endpoint as "1.2.3.4:5" or "[::1]:5" for logs.
std::string to_string(const tcp::endpoint& ep);
/// The same for a UDP endpoint.
std::string to_string(const udp::endpoint& ep);
/// IPv4-mapped IPv6 addresses (from dual-stack sockets) as IPv4; others unchanged.
net::ip::address plain_address(const net::ip::address& a);
/// The address's bytes (4 for IPv4, IPv4-mapped ones too; 16 for IPv6), as a map key.
std::string address_bytes(const net::ip::address& a);
/// The endpoint as a target address (IPv4-mapped addresses become IPv4).
target_address to_target(const udp::endpoint& ep);
/// The same for a TCP endpoint.
target_address to_target(const tcp::endpoint& ep);
/// The UDP endpoint of an IP target; nullopt for a domain name.
std::optional<udp::endpoint> to_endpoint(const target_address& t);

/// Why ss-server must not send to `a` (the outbound guard: loopback, private, link-local and
/// the other non-public networks of `non_public_reason`), or nullptr when it may. Always
/// nullptr with `allow_private`.
const char* outbound_refusal(const net::ip::address& a, bool allow_private);

}  // namespace ss
