#pragma once
/// \file The entry points of ss-server: what its accepted TCP connections and listening UDP
/// sockets are handed to (types in shadowsocks/service/fronts.hpp).

#include <memory>

#include "shadowsocks/service/fronts.hpp"

namespace ss {

/// ss-server: one encrypted client connection, relayed to the target it names.
awaitable<void> serve_shadowsocks(tcp::socket client, tcp::endpoint from,
                                  std::shared_ptr<service_context> ctx);

/// ss-server: the UDP relay on one listening socket (runs until the socket is closed). Each
/// datagram is served under the context in `slot`; when a reload changes the key, the
/// associations made under the old one are dropped.
awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock, const context_slot& slot);

}  // namespace ss
