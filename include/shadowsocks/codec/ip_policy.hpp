#pragma once
/// \file Which destination addresses ss-server refuses by default (the outbound guard): the
/// server's own network must not be reachable through it (SSRF).

#include <array>
#include <cstdint>

namespace ss {

/// Why an address is not a public destination, or nullptr when it is one. Covers loopback,
/// RFC 1918 private, link-local, CGNAT (RFC 6598), multicast, broadcast, unspecified,
/// "this network" (0/8), reserved (240/4), IPv6 unique-local and link-local, and every IPv6 form
/// that embeds an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4
/// 2002::/16), which are judged by the IPv4 address inside.
const char* non_public_reason(const std::array<std::uint8_t, 4>& v4) noexcept;
/// The same for IPv6.
const char* non_public_reason(const std::array<std::uint8_t, 16>& v6) noexcept;

}  // namespace ss
