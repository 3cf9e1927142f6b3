#pragma once
/// \file What an accepted TCP connection or a listening UDP socket is handed to: the entry
/// points' types. The entry points are the fronts of each side (shadowsocks/local/fronts.hpp,
/// shadowsocks/server/fronts.hpp).

#include <memory>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// Serves one accepted TCP connection under the context in force when it was accepted.
using tcp_handler = awaitable<void> (*)(tcp::socket, tcp::endpoint,
                                        std::shared_ptr<service_context>);
/// Serves a listening UDP socket until it is closed; each datagram under the context in `slot`.
using udp_handler = awaitable<void> (*)(std::shared_ptr<udp::socket>, const context_slot&);

}  // namespace ss
