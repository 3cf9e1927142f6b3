#pragma once
/// \file DNS through chosen name servers (libev's `-d`): c-ares, driven by the calling
/// thread's event loop, one channel per worker thread. With name servers given, DNS only:
/// /etc/hosts is not read.

#include <cstdint>
#include <string>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/resolve.hpp"

namespace ss {

/// Looks `host` up through `servers` (c-ares's CSV form: "192.0.2.53,[2001:db8::53]:5353"),
/// A and AAAA, ordered as `order_endpoints` does. With `servers` empty, as the system's
/// resolver does it: /etc/hosts, then the name servers of /etc/resolv.conf. Must run on a
/// single-threaded event loop (a worker's); the caller bounds the time (`resolve_within`).
awaitable<resolved> resolve_through(const std::string& servers, const std::string& host,
                                    std::uint16_t port, bool ipv6_first);

}  // namespace ss
