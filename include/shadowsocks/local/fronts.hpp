#pragma once
/// \file The entry points of ss-local, ss-tunnel and ss-redir: what their accepted TCP
/// connections and listening UDP sockets are handed to (types in shadowsocks/service/fronts.hpp).

#include <memory>

#include "shadowsocks/service/fronts.hpp"

namespace ss {

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

/// ss-tunnel: datagrams to the local port go to the `-L` destination through the server. A
/// sender's session keeps the context it started with; new senders get the one in `slot`.
awaitable<void> run_udp_tunnel(std::shared_ptr<udp::socket> sock, const context_slot& slot);
/// ss-redir: datagrams TPROXY sent to the port (each with its original destination) go there
/// through the server; answers go back to the client from the address it sent to.
awaitable<void> run_udp_redir(std::shared_ptr<udp::socket> sock, const context_slot& slot);

}  // namespace ss
