#include "shadowsocks/codec/ip_policy.hpp"

#include <algorithm>

namespace ss {

const char* non_public_reason(const std::array<std::uint8_t, 4>& a) noexcept {
  std::uint32_t ip = static_cast<std::uint32_t>(a[0]) << 24 | a[1] << 16 | a[2] << 8 | a[3];
  auto in = [ip](std::uint32_t net, int bits) {
    std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (ip & mask) == net;
  };
  if (ip == 0xFFFFFFFF) return "broadcast";
  if (in(0x00000000, 8)) return "unspecified / this network";
  if (in(0x7F000000, 8)) return "loopback";
  if (in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16)) return "private (RFC 1918)";
  if (in(0xA9FE0000, 16)) return "link-local";
  if (in(0x64400000, 10)) return "shared address space / CGNAT (RFC 6598)";
  if (in(0xE0000000, 4)) return "multicast";
  if (in(0xF0000000, 4)) return "reserved";
  return nullptr;
}

const char* non_public_reason(const std::array<std::uint8_t, 16>& a) noexcept {
  auto prefix_is = [&a](std::initializer_list<std::uint8_t> p) {
    return std::equal(p.begin(), p.end(), a.begin());
  };
  auto tail_v4 = [&a](std::size_t at) {
    return std::array<std::uint8_t, 4>{a[at], a[at + 1], a[at + 2], a[at + 3]};
  };
  bool first_96_zero = std::all_of(a.begin(), a.begin() + 12, [](auto b) { return b == 0; });
  if (first_96_zero) {
    if (a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1) {
      return a[15] == 0 ? "unspecified" : "loopback";
    }
    return non_public_reason(tail_v4(12)) ? "IPv4-compatible form of a non-public address"
                                          : nullptr;
  }
  // ::ffff:a.b.c.d, and NAT64 64:ff9b::a.b.c.d: judged by the IPv4 address inside.
  if (prefix_is({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}) ||
      prefix_is({0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0})) {
    return non_public_reason(tail_v4(12)) ? "IPv4-mapped form of a non-public address" : nullptr;
  }
  if (prefix_is({0x20, 0x02})) {  // 6to4: 2002:a.b.c.d::/48
    return non_public_reason(tail_v4(2)) ? "6to4 form of a non-public address" : nullptr;
  }
  if ((a[0] & 0xFE) == 0xFC) return "unique local (fc00::/7)";
  if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) return "link-local";
  if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0) return "site-local (deprecated)";
  if (a[0] == 0xFF) return "multicast";
  return nullptr;
}

}  // namespace ss
