#pragma once
/// \file Small text parsers the codecs and the configuration share: whole decimal numbers and
/// "host:port" with an optional bracketed IPv6 host.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// `text` as a decimal integer when all of it is one ("-5", "8388"); nullopt for empty text,
/// other characters, or a value outside int64.
std::optional<std::int64_t> parse_integer(std::string_view text);

/// A port number from 0 to 65535 written in decimal; nullopt otherwise.
std::optional<std::uint16_t> parse_port(std::string_view text);

/// `items` with `separator` between them: {"a", "b"} -> "a,b".
std::string join(const std::vector<std::string>& items, std::string_view separator = ",");
/// The pieces of `text` between `separator`s ("a:b" -> "a", "b"; "" -> one empty piece).
std::vector<std::string_view> split(std::string_view text, char separator);

/// "host:port" taken apart, before either half is checked.
struct host_port_text {
  std::string_view host;   ///< Without the brackets of "[::1]:80".
  std::string_view port;   ///< After the last ':' (or after "]:").
  bool bracketed = false;  ///< The host was written in brackets.
};
/// What is wrong with the shape of a "host:port".
enum class host_port_error : std::uint8_t {
  unclosed_bracket,  ///< "[::1" with no ']'.
  missing_port,      ///< No ':' after the host.
};
/// Splits at the last ':' or, for "[host]:port", at the ']:'.
result<host_port_text, host_port_error> split_host_port(std::string_view text);

/// True when `a` and `b` are the same but for the case of ASCII letters ("HTTP://", "Basic").
bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept;
/// True when `text` starts with `prefix` but for the case of ASCII letters ("HTTPS://x").
bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept;

/// A URL taken apart, before its authority is read.
struct url_text {
  std::string_view authority;  ///< Up to the first '/', '?' or '#' after the scheme.
  std::string target;          ///< The path and query: "/" at least, the fragment dropped.
};
/// `text` taken apart when it starts with `scheme` ("http://", "https://"; in any case), and
/// its target has no space or line break; none otherwise. The authority is not read
/// (see `parse_authority` in address.hpp).
std::optional<url_text> split_url(std::string_view text, std::string_view scheme);

/// FNV-1a (64 bits) of `bytes`: a name or fingerprint that is stable across builds (unlike
/// std::hash). Not cryptographic.
std::uint64_t fnv1a_64(std::span<const std::uint8_t> bytes) noexcept;
/// The same of the bytes of `text`.
std::uint64_t fnv1a_64(std::string_view text) noexcept;

}  // namespace ss
