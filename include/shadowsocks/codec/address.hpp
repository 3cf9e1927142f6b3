#pragma once
/// \file Target address: IPv4, IPv6 or domain name plus port, in the SOCKS5 encoding that the
/// Shadowsocks address header and the SOCKS5 UDP header share.
///
///     +------+----------------------+----------+
///     | ATYP | ADDR                 | PORT     |
///     +------+----------------------+----------+
///     | 0x01 | 4 bytes IPv4         | 2 (BE)   |
///     | 0x03 | 1 byte LEN + LEN     | 2 (BE)   |
///     |      | bytes of domain name |          |
///     | 0x04 | 16 bytes IPv6        | 2 (BE)   |
///     +------+----------------------+----------+

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// The ATYP byte.
enum class address_type : std::uint8_t { ipv4 = 0x01, domain = 0x03, ipv6 = 0x04 };

/// Longest domain name the one-byte length allows.
inline constexpr std::size_t max_domain_size = 255;
/// Longest encoded address: ATYP + LEN + 255 + PORT.
inline constexpr std::size_t max_address_size = 1 + 1 + max_domain_size + 2;

/// A destination: host (IPv4, IPv6 or domain) and port. Always valid once constructed.
class target_address {
 public:
  using ipv4_bytes = std::array<std::uint8_t, 4>;   ///< Network byte order.
  using ipv6_bytes = std::array<std::uint8_t, 16>;  ///< Network byte order.

  /// 0.0.0.0:0.
  target_address() = default;
  /// An IPv4 address.
  static target_address ipv4(const ipv4_bytes& ip, std::uint16_t port);
  /// An IPv6 address.
  static target_address ipv6(const ipv6_bytes& ip, std::uint16_t port);
  /// A domain name of 1 to 255 bytes; anything else is `errc::empty_domain` or
  /// `errc::bad_address_type`.
  static result<target_address> domain(std::string_view name, std::uint16_t port);
  /// Parses "1.2.3.4:80", "[::1]:80" or "example.com:443". Errors name nothing: callers say
  /// which key or flag held the text.
  static result<target_address> parse(std::string_view host_port);
  /// Like `parse` but for a host and a port given apart; IP literals become IP addresses.
  static result<target_address> from_host(std::string_view host, std::uint16_t port);

  /// The ATYP of this address.
  address_type type() const noexcept;
  /// The IPv4 bytes; only when `type() == ipv4`.
  const ipv4_bytes& v4() const { return std::get<ipv4_bytes>(host_); }
  /// The IPv6 bytes; only when `type() == ipv6`.
  const ipv6_bytes& v6() const { return std::get<ipv6_bytes>(host_); }
  /// The domain name; only when `type() == domain`.
  const std::string& name() const { return std::get<std::string>(host_); }
  /// The port, host byte order.
  std::uint16_t port() const noexcept { return port_; }
  /// The host alone: "1.2.3.4", "::1" or the domain name.
  std::string host_string() const;
  /// "1.2.3.4:80", "[::1]:80" or "example.com:80".
  std::string to_string() const;
  /// Size of the wire encoding.
  std::size_t encoded_size() const noexcept;

  /// Equal type, host bytes and port.
  friend bool operator==(const target_address&, const target_address&) = default;

 private:
  std::variant<ipv4_bytes, std::string, ipv6_bytes> host_{ipv4_bytes{}};
  std::uint16_t port_ = 0;
};

/// An authority "host[:port]" (a name, an IPv4 address or a bracketed IPv6 one) as an address,
/// `default_port` when it names no port (none: the port is required). User information
/// ("user@host") and port 0 are refused. (The HTTP proxy's requests, URLs of the config.)
std::optional<target_address> parse_authority(std::string_view text,
                                              std::optional<std::uint16_t> default_port);

/// Writes the wire encoding into `out`, which must hold `a.encoded_size()` bytes; returns the
/// number of bytes written.
std::size_t encode_address(const target_address& a, mutable_bytes out) noexcept;
/// Appends the wire encoding to `out`.
void encode_address(const target_address& a, std::vector<std::uint8_t>& out);
/// Decodes one address from the front of `in`. Never reads past the declared domain length;
/// rejects ATYP other than 1/3/4 and a zero-length domain.
decoded<target_address> decode_address(bytes_view in);

}  // namespace ss
