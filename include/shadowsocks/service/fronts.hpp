#pragma once
/// \file The per-connection and per-socket entry points of the daemons: what an accepted
/// TCP connection or a listening UDP socket is handed to.

#include <memory>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// Serves one accepted TCP connection under the context in force when it was accepted.
using tcp_handler = awaitable<void> (*)(tcp::socket, tcp::endpoint,
                                        std::shared_ptr<service_context>);
/// Serves a listening UDP socket until it is closed; each datagram under the context in `slot`.
using udp_handler = awaitable<void> (*)(std::shared_ptr<udp::socket>, const context_slot&);

/// ss-local: one client connection of the local port, SOCKS5 (CONNECT relayed through
/// ss-server, UDP ASSOCIATE; RFC 1929 username/password with proxy users), SOCKS4/4a CONNECT,
/// or an HTTP proxy request (CONNECT and absolute-form), told apart by the first byte.
awaitable<void> serve_local(tcp::socket client, tcp::endpoint from,
                            std::shared_ptr<service_context> ctx);
/// ss-tunnel: one connection forwarded through ss-server to the fixed `-L` destination.
awaitable<void> serve_tunnel(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx);
/// ss-redir: one connection the firewall redirected here (REDIRECT, or TPROXY with
/// `tcp_tproxy`), forwarded through ss-server to where it was going.
awaitable<void> serve_redir(tcp::socket client, tcp::endpoint from,
                            std::shared_ptr<service_context> ctx);
/// ss-server: one encrypted client connection, relayed to the target it names.
awaitable<void> serve_shadowsocks(tcp::socket client, tcp::endpoint from,
                                  std::shared_ptr<service_context> ctx);

/// ss-server: the UDP relay on one listening socket (runs until the socket is closed). Each
/// datagram is served under the context in `slot`; when a reload changes the key, the
/// associations made under the old one are dropped.
awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock, const context_slot& slot);
/// ss-tunnel: datagrams to the local port go to the `-L` destination through the server. A
/// sender's session keeps the context it started with; new senders get the one in `slot`.
awaitable<void> run_udp_tunnel(std::shared_ptr<udp::socket> sock, const context_slot& slot);
/// ss-redir: datagrams TPROXY sent to the port (each with its original destination) go there
/// through the server; answers go back to the client from the address it sent to.
awaitable<void> run_udp_redir(std::shared_ptr<udp::socket> sock, const context_slot& slot);

}  // namespace ss
