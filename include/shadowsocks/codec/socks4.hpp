#pragma once
/// \file SOCKS4 and its 4a extension (the protocols of the NEC and OpenSSH documents that
/// clients such as curl `--socks4` / `--socks4a` speak). Pure and synchronous, like socks5.hpp:
/// decoders answer need more / done / error over the buffered input; encoders append.

#include <cstdint>
#include <string>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/bytes.hpp"

namespace ss::socks4 {

/// VN of a request.
inline constexpr std::uint8_t version = 0x04;
/// Longest USERID and 4a host name we read (each ends with a NUL that must come in time).
inline constexpr std::size_t max_field = 255;

/// CD of a request.
enum class command : std::uint8_t { connect = 0x01, bind = 0x02 };

/// CD of a reply.
enum class reply_code : std::uint8_t {
  granted = 0x5A,          ///< Request granted.
  rejected = 0x5B,         ///< Request rejected or failed.
  no_identd = 0x5C,        ///< The client runs no identd (we never ask).
  identd_mismatch = 0x5D,  ///< identd and USERID differ (we never ask).
};

/// A request:
///
///     +----+----+---------+--------+-----------+------+-------------------+------+
///     | VN | CD | DSTPORT | DSTIP  | USERID    | NUL  | 4a: host name     | NUL  |
///     +----+----+---------+--------+-----------+------+-------------------+------+
///     | 1  | 1  |    2    |   4    | 0 to 255  |  1   | 1 to 255          |  1   |
///     +----+----+---------+--------+-----------+------+-------------------+------+
///
/// SOCKS4a: DSTIP 0.0.0.x with x != 0 means a host name follows the USERID.
struct request {
  command cmd = command::connect;  ///< CD.
  target_address target;           ///< DSTIP (or the 4a host name) and DSTPORT.
  std::string user_id;             ///< USERID (not a credential: SOCKS4 has none).
};
/// Decodes a request. VN != 4 is `socks4_bad_version`, a CD other than 1 and 2
/// `socks4_bad_command` (judged as soon as it is seen), a field without its NUL within 255
/// bytes `socks4_too_long`, an empty 4a host name `empty_domain`.
decoded<request> decode_request(bytes_view in);
/// Appends a request; a domain target is sent in the 4a form, an IPv6 one cannot be
/// (`bad_address_type`), nor fields over 255 bytes (`socks4_too_long`).
std::error_code encode_request(command cmd, const target_address& target,
                               const std::string& user_id, std::vector<std::uint8_t>& out);

/// A reply: `| VN = 0 | CD | DSTPORT | DSTIP |`, 8 bytes; we send zeros for the address.
void encode_reply(reply_code rep, std::vector<std::uint8_t>& out);
/// Decodes a reply (client side); a VN other than 0 is `socks4_bad_version`.
decoded<reply_code> decode_reply(bytes_view in);

}  // namespace ss::socks4
