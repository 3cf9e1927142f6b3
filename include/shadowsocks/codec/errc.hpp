#pragma once
/// \file Error codes of the core library, and `result<T, E>`: a value or why there is none.

#include <cassert>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace ss {

/// Everything the codecs, crypto and services can report. Values are stable (logs, tests).
enum class errc {
  ok = 0,
  // Target address (shared by SOCKS5 and the Shadowsocks address header).
  bad_address_type = 1,  ///< ATYP other than 1 (IPv4), 3 (domain), 4 (IPv6).
  empty_domain,          ///< A domain name of length zero.
  // SOCKS5 (RFC 1928) and username/password sub-negotiation (RFC 1929).
  socks5_bad_version = 20,       ///< VER is not 5 (or not 1 in the RFC 1929 sub-negotiation).
  socks5_no_methods,             ///< NMETHODS is zero.
  socks5_bad_command,            ///< CMD other than CONNECT, BIND, UDP ASSOCIATE.
  socks5_bad_reply,              ///< A reply code outside RFC 1928's table (client side).
  socks5_fragmented,             ///< A UDP datagram with FRAG != 0.
  socks5_command_not_supported,  ///< A valid command we do not serve (e.g. BIND).
  socks5_auth_failed,            ///< RFC 1929 credentials refused.
  // SOCKS4 and SOCKS4a.
  socks4_bad_version = 30,  ///< VN is not 4.
  socks4_bad_command,       ///< CD other than CONNECT (1) and BIND (2).
  socks4_too_long,          ///< A USERID or 4a host name over 255 bytes (no NUL in time).
  // Crypto.
  unknown_method = 40,  ///< Not one of the supported AEAD methods.
  bad_key,              ///< A base64 key that does not decode to the method's key size.
  aead_auth_failed,     ///< A tag did not verify: the data was forged or corrupted.
  aead_bad_length,      ///< A chunk length above 0x3FFF or with the reserved bits set.
  aead_short_packet,    ///< A UDP packet shorter than salt + tag.
  crypto_failure,       ///< OpenSSL refused an operation that cannot fail on valid input.
  // Server-side defences.
  replayed_salt = 60,  ///< A salt seen before: a replayed or reflected stream.
  no_key_opens,        ///< No key of a port with several keys opens the stream or packet.
  // The 2022 edition's headers (SIP022).
  sip022_bad_type = 70,     ///< A header of the other direction's type (reflected data).
  sip022_bad_padding,       ///< Padding longer than 900 bytes.
  sip022_empty_request,     ///< Neither padding nor initial payload.
  sip022_truncated_header,  ///< A variable-length header that does not end within its chunk.
  sip022_stale_timestamp,   ///< A header timestamp more than 30 s from our clock (a replay).
  sip022_wrong_salt,        ///< A response header naming another request's salt.
  sip022_bad_session,       ///< A UDP packet naming a session that is not ours.
  sip022_replayed_packet,   ///< A UDP packet ID seen before or behind the window.
  sip022_unknown_user,      ///< An identity header naming no user of this server (SIP023).
  // Network outcomes mapped to SOCKS5 replies.
  connection_refused = 80,
  host_unreachable,
  network_unreachable,
  ttl_expired,
  not_allowed,
};

/// The `std::error_category` of `ss::errc` ("shadowsocks").
const std::error_category& error_category() noexcept;

/// Makes `errc` usable as a `std::error_code`.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// What went wrong, in words a person reads: the `E` of a `result` whose failure ends up in a
/// log line or on a terminal (a file that cannot be read, a user that does not exist).
struct problem {
  std::string message;  ///< One sentence, without a trailing period.
};

/// A value, or why there is none: the one way a function says "failed, and why"
/// (docs/architecture.md, "Errors at each boundary"). `E` is `std::error_code` (our `errc`) on
/// the data path, `problem` where a person reads it, or a layer's own type (`config_error`s,
/// `bind_failure`). Cheap to move; no exceptions on the data path.
template <class T, class E = std::error_code>
class [[nodiscard]] result {
 public:
  /// A successful result.
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  /// A failed result.
  result(E error) : v_(std::in_place_index<1>, std::move(error)) {  // NOLINT
    if constexpr (std::is_same_v<E, std::error_code>) assert(std::get<1>(v_));
  }
  /// A failed result from our own error enum.
  result(errc e)  // NOLINT(google-explicit-constructor)
      requires std::is_same_v<E, std::error_code> : v_(std::in_place_index<1>, make_error_code(e)) {
  }

  /// True when a value is held.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// True when a value is held.
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; only valid when `has_value()`.
  T& value() & { return std::get<0>(v_); }
  /// The value; only valid when `has_value()`.
  const T& value() const& { return std::get<0>(v_); }
  /// The value, moved out; only valid when `has_value()`.
  T&& value() && { return std::get<0>(std::move(v_)); }
  /// The value; only valid when `has_value()`.
  T& operator*() & { return value(); }
  /// The value; only valid when `has_value()`.
  const T& operator*() const& { return value(); }
  /// Member access to the value; only valid when `has_value()`.
  T* operator->() { return &value(); }
  /// Member access to the value; only valid when `has_value()`.
  const T* operator->() const { return &value(); }
  /// The error; an empty one when a value is held.
  const E& error() const noexcept {
    static const E none{};
    return has_value() ? none : std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

/// Done, or why not: a `result` without a value (`return {};` on success).
template <class E>
class [[nodiscard]] result<void, E> {
 public:
  /// Done.
  result() = default;
  /// Failed.
  result(E error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  /// True when done.
  bool has_value() const noexcept { return !error_.has_value(); }
  /// True when done.
  explicit operator bool() const noexcept { return has_value(); }
  /// The error; an empty one when done.
  const E& error() const noexcept {
    static const E none{};
    return error_ ? *error_ : none;
  }

 private:
  std::optional<E> error_;
};

}  // namespace ss

template <>
struct std::is_error_code_enum<ss::errc> : std::true_type {};
