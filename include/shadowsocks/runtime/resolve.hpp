#pragma once
/// \file Name resolution and connecting, each bounded in time.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/socket_io.hpp"

namespace ss {

/// What a look-up gave: an error, or the endpoints in the order to try them.
using resolved = std::pair<boost::system::error_code, std::vector<tcp::endpoint>>;

/// Puts one address family first (IPv6 when `ipv6_first`, else IPv4), keeping the
/// resolver's order within each family.
void order_endpoints(std::vector<tcp::endpoint>& endpoints, bool ipv6_first);

/// Resolves `host` for `port`: an IP literal costs nothing (no coroutine, no timer); a name is
/// looked up, IPv6 first when `ipv6_first`, for at most `limit` (then `timed_out`): with the
/// system's resolver (getaddrinfo; in a build without glibc's NSS, SS_NO_NSS, c-ares reading
/// /etc/hosts and /etc/resolv.conf), or through the name servers `nameservers` names (see
/// dns.hpp) when it is not empty.
awaitable<resolved> resolve_within(const std::string& host, std::uint16_t port, bool ipv6_first,
                                   steady_clock::duration limit,
                                   const std::string& nameservers = {});

/// Connects `s` to the first endpoint that accepts, trying them in order; returns the last
/// error. The caller bounds the time with a `deadline` that closes `s` (and then `expired`
/// stops the loop: the result is `timed_out`). A connected socket gets `opts`.
awaitable<boost::system::error_code> connect_any(tcp::socket& s,
                                                 const std::vector<tcp::endpoint>& endpoints,
                                                 const deadline& limit, const socket_options& opts);

}  // namespace ss
