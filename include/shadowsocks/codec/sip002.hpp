#pragma once
/// \file SIP002 `ss://` URLs (shadowsocks-org sip002.md):
///
///     ss://userinfo@host:port[/][?plugin=...][#tag]
///     userinfo = base64url(method ":" password)      (padding optional)
///              | percent-encoded method ":" percent-encoded password
///
/// Hosts are names, IPv4 literals or bracketed IPv6 literals. The plugin (SIP003) is kept as
/// text; so is Outline's `prefix` (the bytes a client puts at the start of its salt, each
/// written as the character U+0000..U+00FF, in UTF-8, percent-encoded:
/// `prefix=%16%03%01%00%C2%A8`). Other query parameters are ignored, as the document asks.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// One server as a SIP002 URL describes it.
struct server_url {
  std::string method;    ///< As written (not checked against the supported methods here).
  std::string password;  ///< Decoded.
  std::string host;      ///< Without brackets for IPv6.
  std::uint16_t port = 0;
  std::string plugin;  ///< The decoded `plugin` parameter ("name;opt=value"), or empty.
  std::string tag;     ///< The decoded fragment, or empty.
  std::string prefix;  ///< The bytes of the `prefix` parameter (Outline's), or empty.
};

/// What is wrong with a URL: the part ("scheme", "userinfo", "host", "port", "query",
/// "tag") and the problem, for a one-line message.
struct url_error {
  std::string part;     ///< Which part of the URL.
  std::string problem;  ///< What is wrong with it.
};

/// Parses a SIP002 URL (either userinfo form).
result<server_url, url_error> parse_server_url(std::string_view url);

/// Writes `u` as a SIP002 URL with base64url userinfo (no padding), the form every client
/// reads, except for the 2022 methods ("2022-..."), whose userinfo SIP002 requires to be
/// percent-encoded method:password; the plugin and tag are percent-encoded.
std::string format_server_url(const server_url& u);

/// Bytes written as text the way Outline writes a `prefix`: each byte the character of that
/// code point (U+0000..U+00FF), in UTF-8. (As JSON and URLs carry it.)
std::string bytes_as_characters(std::string_view bytes);
/// The inverse of `bytes_as_characters`: the bytes of UTF-8 text whose every character is
/// U+0000..U+00FF; none for other text.
std::optional<std::string> characters_as_bytes(std::string_view text);

/// Percent-encodes everything but RFC 3986's unreserved characters.
std::string percent_encode(std::string_view text);
/// Decodes %XX escapes; false on a malformed escape.
bool percent_decode(std::string_view text, std::string& out);

}  // namespace ss
