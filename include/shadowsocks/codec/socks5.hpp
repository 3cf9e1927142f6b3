#pragma once
/// \file SOCKS5 messages (RFC 1928) and the username/password sub-negotiation (RFC 1929).
/// Pure and synchronous: decoders look at the buffered input and answer need more / done /
/// error; encoders append to a byte vector. Both the server side (ss-local) and the client
/// side (tests, tools) of every message are here.

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/bytes.hpp"

namespace ss::socks5 {

/// VER of every RFC 1928 message.
inline constexpr std::uint8_t version = 0x05;
/// VER of the RFC 1929 sub-negotiation.
inline constexpr std::uint8_t auth_version = 0x01;

/// Authentication methods (RFC 1928 section 3).
enum class method : std::uint8_t {
  no_auth = 0x00,
  gssapi = 0x01,
  username_password = 0x02,
  no_acceptable = 0xFF,
};

/// Request commands (RFC 1928 section 4).
enum class command : std::uint8_t { connect = 0x01, bind = 0x02, udp_associate = 0x03 };

/// Reply codes (RFC 1928 section 6).
enum class reply_code : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,
  not_allowed = 0x02,
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

/// Client greeting:
///
///     +-----+----------+----------+
///     | VER | NMETHODS | METHODS  |
///     +-----+----------+----------+
///     |  1  |    1     | 1 to 255 |
///     +-----+----------+----------+
struct greeting {
  std::vector<std::uint8_t> methods;  ///< As offered, in order.
  /// True when the client offers `m`.
  bool offers(method m) const noexcept;
};
/// Decodes a greeting; VER != 5 is `socks5_bad_version`, NMETHODS == 0 `socks5_no_methods`.
decoded<greeting> decode_greeting(bytes_view in);
/// Appends a greeting offering `methods` (1 to 255 of them).
void encode_greeting(const std::vector<method>& methods, std::vector<std::uint8_t>& out);

/// Method selection: `| VER | METHOD |`, 1 byte each.
void encode_method_selection(method m, std::vector<std::uint8_t>& out);
/// Decodes a method selection (client side).
decoded<method> decode_method_selection(bytes_view in);

/// RFC 1929 request:
///
///     +-----+------+----------+------+----------+
///     | VER | ULEN |  UNAME   | PLEN |  PASSWD  |
///     +-----+------+----------+------+----------+
///     |  1  |  1   | 0 to 255 |  1   | 0 to 255 |
///     +-----+------+----------+------+----------+
struct credentials {
  std::string username;  ///< UNAME.
  std::string password;  ///< PASSWD.
  /// Equal when both fields are equal.
  friend bool operator==(const credentials&, const credentials&) = default;
};
/// Decodes an RFC 1929 request. VER must be 1.
decoded<credentials> decode_auth_request(bytes_view in);
/// Appends an RFC 1929 request; a field over 255 bytes is `socks5_auth_failed`.
std::error_code encode_auth_request(const credentials& c, std::vector<std::uint8_t>& out);
/// RFC 1929 reply: `| VER | STATUS |`, 0x00 is success.
void encode_auth_reply(bool success, std::vector<std::uint8_t>& out);
/// Decodes an RFC 1929 reply; the value is true for success.
decoded<bool> decode_auth_reply(bytes_view in);

/// Request (RFC 1928 section 4) and reply (section 6) share one layout:
///
///     +-----+---------+-------+------+----------+----------+
///     | VER | CMD/REP |  RSV  | ATYP | DST.ADDR | DST.PORT |
///     +-----+---------+-------+------+----------+----------+
///     |  1  |    1    | X'00' |  1   | Variable |    2     |
///     +-----+---------+-------+------+----------+----------+
struct request {
  command cmd = command::connect;  ///< CMD.
  target_address target;           ///< DST.ADDR and DST.PORT.
};
/// Decodes a request. An unknown CMD is `socks5_bad_command` (reply 0x07), an unknown ATYP
/// `bad_address_type` (reply 0x08). RSV is not checked, as libev and shadowsocks-rust do not.
decoded<request> decode_request(bytes_view in);
/// Appends a request.
void encode_request(command cmd, const target_address& target, std::vector<std::uint8_t>& out);

/// A reply as the client sees it.
struct reply {
  reply_code rep = reply_code::succeeded;  ///< REP.
  target_address bound;                    ///< BND.ADDR and BND.PORT.
};
/// Appends a reply.
void encode_reply(reply_code rep, const target_address& bound, std::vector<std::uint8_t>& out);
/// Decodes a reply (client side); REP above 0x08 is `socks5_bad_reply`.
decoded<reply> decode_reply(bytes_view in);

/// UDP request header (RFC 1928 section 7); DATA follows it:
///
///     +-----+------+------+----------+----------+----------+
///     | RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
///     +-----+------+------+----------+----------+----------+
///     |  2  |  1   |  1   | Variable |    2     | Variable |
///     +-----+------+------+----------+----------+----------+
struct udp_header {
  std::uint8_t frag = 0;  ///< FRAG; we only relay 0 (no fragmentation).
  target_address target;  ///< DST.ADDR and DST.PORT.
};
/// Decodes the header; `consumed` is where DATA starts. A datagram is complete, so a short one
/// is `need_more` only in the sense that it can never be valid: callers drop it.
decoded<udp_header> decode_udp_header(bytes_view in);
/// Appends a header with FRAG = 0.
void encode_udp_header(const target_address& target, std::vector<std::uint8_t>& out);

/// The REP code to send for an error met while serving a request: our own codes and the
/// generic `std::errc` conditions that connect and resolve produce.
reply_code reply_code_for(std::error_code ec) noexcept;

}  // namespace ss::socks5
