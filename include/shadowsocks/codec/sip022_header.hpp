#pragma once
/// \file The plaintext headers of the Shadowsocks 2022 TCP streams (SIP022 section 3.1.3).
/// Each is one AEAD chunk on the wire; these are the chunks' contents after opening.
///
/// Request fixed-length header (the request's first chunk, 11 bytes):
///
///     +------+-----------+--------+
///     | type | timestamp | length |     type 0 (client stream); timestamp: u64 big-endian
///     +------+-----------+--------+     Unix seconds; length: u16 big-endian, the plaintext
///     |  1   |     8     |   2    |     size of the next chunk (the variable header)
///     +------+-----------+--------+
///
/// Request variable-length header (the second chunk, `length` bytes):
///
///     +------+----------+------+-------------+---------+-----------------+
///     | ATYP | address  | port | padding len | padding | initial payload |
///     +------+----------+------+-------------+---------+-----------------+
///     |  1   | variable |  2   |   2 (BE)    | 0..900  |  rest of chunk  |
///     +------+----------+------+-------------+---------+-----------------+
///
/// Response fixed-length header (the response's first chunk, 11 + salt size bytes):
///
///     +------+-----------+--------------+--------+
///     | type | timestamp | request salt | length |     type 1 (server stream); the salt
///     +------+-----------+--------------+--------+     of the request it answers
///     |  1   |     8     |   16 or 32   |   2    |
///     +------+-----------+--------------+--------+

#include <cstdint>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/bytes.hpp"

namespace ss::sip022 {

/// The type byte of a request (client) stream's header.
inline constexpr std::uint8_t client_stream = 0;
/// The type byte of a response (server) stream's header.
inline constexpr std::uint8_t server_stream = 1;
/// Longest padding of a request's variable header.
inline constexpr std::size_t max_padding = 900;
/// Size of the request's fixed header.
inline constexpr std::size_t request_fixed_size = 1 + 8 + 2;
/// Largest time difference, in seconds, between a header's timestamp and the receiver's clock;
/// beyond it the stream is a replay (SIP022 3.1.3).
inline constexpr std::uint64_t max_time_difference = 30;

/// True when `timestamp` is within `max_time_difference` of `now` (both Unix seconds).
constexpr bool timestamp_fresh(std::uint64_t timestamp, std::uint64_t now) noexcept {
  return timestamp <= now ? now - timestamp <= max_time_difference
                          : timestamp - now <= max_time_difference;
}

/// The request's fixed header.
struct request_fixed {
  std::uint64_t timestamp = 0;  ///< Unix seconds.
  std::uint16_t length = 0;     ///< Plaintext size of the variable header's chunk.
};
/// Decodes a request fixed header; a type other than 0 is `sip022_bad_type` (our own response
/// stream reflected back). The timestamp is the caller's to judge (`timestamp_fresh`).
decoded<request_fixed> decode_request_fixed(bytes_view in);
/// Appends a request fixed header.
void encode_request_fixed(const request_fixed& h, std::vector<std::uint8_t>& out);

/// The request's variable header; `payload` points into the decoded chunk.
struct request_variable {
  target_address target;    ///< ATYP, address, port.
  std::size_t padding = 0;  ///< Bytes of padding (their content is meaningless).
  bytes_view payload;       ///< The initial payload (the rest of the chunk).
};
/// Decodes a whole variable-header chunk (it is complete once opened: a header that does not
/// end within it is `sip022_truncated_header`, not need-more). Padding over 900 bytes is
/// `sip022_bad_padding`; neither padding nor payload is `sip022_empty_request`.
decoded<request_variable> decode_request_variable(bytes_view chunk);
/// Appends a variable header with `padding` (its bytes as given) and `payload`.
void encode_request_variable(const target_address& target, bytes_view padding, bytes_view payload,
                             std::vector<std::uint8_t>& out);

/// The response's fixed header; `request_salt` points into the decoded input.
struct response_fixed {
  std::uint64_t timestamp = 0;  ///< Unix seconds.
  bytes_view request_salt;      ///< The salt of the request stream it answers.
  std::uint16_t length = 0;     ///< Plaintext size of the first payload chunk.
};
/// Decodes a response fixed header for salts of `salt_size` bytes; a type other than 1 is
/// `sip022_bad_type`. The caller compares the salt with its request's.
decoded<response_fixed> decode_response_fixed(bytes_view in, std::size_t salt_size);
/// Appends a response fixed header.
void encode_response_fixed(std::uint64_t timestamp, bytes_view request_salt, std::uint16_t length,
                           std::vector<std::uint8_t>& out);

}  // namespace ss::sip022
