#include "shadowsocks/codec/sip002.hpp"

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/codec/hex.hpp"
#include "shadowsocks/codec/text.hpp"

namespace ss {

namespace {

constexpr std::string_view scheme = "ss://";

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// base64url without padding (RFC 4648 section 5), as SIP002 recommends.
std::string base64url(std::string_view text) {
  auto s = base64_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

// A host name (letters, digits, '-', '.', '_'), an IPv4 address, or, in brackets, an IPv6
// address: what a client can dial, and what survives formatting and parsing again unchanged.
bool valid_host(const std::string& host, bool bracketed) {
  auto a = target_address::from_host(host, 1);
  if (!a) return false;
  if (bracketed) return a->type() == address_type::ipv6;
  if (a->type() == address_type::ipv4) return true;
  if (a->type() == address_type::ipv6 || host.size() > 253) return false;
  for (char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

url_error error(std::string part, std::string problem) {
  return url_error{std::move(part), std::move(problem)};
}

// The query's `plugin` and Outline's `prefix` into `out` (the rest is ignored, as SIP002 asks);
// what is wrong with them, if anything.
std::optional<url_error> read_query(std::string_view query, server_url& out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = param.find('=');
    auto name = param.substr(0, eq);
    if (name != "plugin" && name != "prefix") continue;
    const std::string n(name);
    if (eq == std::string_view::npos) return error("query", n + " has no value");
    std::string value;
    if (!percent_decode(param.substr(eq + 1), value)) {
      return error("query", n + " has a malformed %-escape");
    }
    if (name == "plugin") {
      out.plugin = std::move(value);
    } else if (auto bytes = characters_as_bytes(value)) {
      out.prefix = std::move(*bytes);
    } else {
      return error("query",
                   "prefix must be bytes written as the characters U+0000 to U+00FF in "
                   "UTF-8, %-encoded (as Outline writes it)");
    }
  }
  return std::nullopt;
}

// "method:password" from the userinfo, in whichever form it is.
result<std::pair<std::string, std::string>, url_error> parse_userinfo(std::string_view u) {
  if (u.empty()) return error("userinfo", "is empty (expected method:password)");
  std::string method, password;
  if (auto colon = u.find(':'); colon != std::string_view::npos) {
    // Plain form: both halves percent-encoded.
    if (!percent_decode(u.substr(0, colon), method) ||
        !percent_decode(u.substr(colon + 1), password)) {
      return error("userinfo", "has a malformed %-escape");
    }
  } else {
    auto decoded = base64_decode(u);
    if (!decoded) return error("userinfo", "is neither base64url nor method:password");
    std::string text(decoded.value().begin(), decoded.value().end());
    auto c = text.find(':');
    if (c == std::string::npos) return error("userinfo", "decodes to text without a ':'");
    method = text.substr(0, c);
    password = text.substr(c + 1);
  }
  if (method.empty()) return error("userinfo", "names no method");
  for (char c : method) {
    // Method names are letters, digits and '-' (aes-256-gcm, 2022-blake3-aes-128-gcm).
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return error("userinfo", "names a method with characters no method name has");
  }
  return std::pair{std::move(method), std::move(password)};
}

}  // namespace

std::string percent_encode(std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (unreserved(c)) {
      out.push_back(c);
    } else {
      auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(digits[b >> 4]);
      out.push_back(digits[b & 15]);
    }
  }
  return out;
}

bool percent_decode(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return false;
    int hi = hex_digit_value(text[i + 1]);
    int lo = hex_digit_value(text[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi << 4 | lo));
    i += 2;
  }
  return true;
}

result<server_url, url_error> parse_server_url(std::string_view url) {
  server_url out;
  // The scheme is case-insensitive (RFC 3986), but only "ss" is ours.
  if (!starts_with_ignoring_case(url, scheme)) return error("scheme", "must be ss://");
  std::string_view rest = url.substr(scheme.size());
  // Fragment (tag), then query, then the authority.
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    if (!percent_decode(rest.substr(hash + 1), out.tag)) {
      return error("tag", "has a malformed %-escape");
    }
    rest = rest.substr(0, hash);
  }
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return error("host", "is followed by a path");
  auto at = rest.rfind('@');
  if (at == std::string_view::npos) {
    return error("userinfo",
                 "is missing (expected ss://userinfo@host:port; the legacy "
                 "all-base64 form is not SIP002)");
  }
  auto creds = parse_userinfo(rest.substr(0, at));
  if (!creds) return creds.error();
  auto& [method, password] = *creds;
  out.method = std::move(method);
  out.password = std::move(password);

  auto split = split_host_port(rest.substr(at + 1));
  if (!split) {
    return split.error() == host_port_error::unclosed_bracket ? error("host", "has an unclosed '['")
                                                              : error("port", "is missing");
  }
  auto [host, port_text, bracketed] = *split;
  if (host.empty()) return error("host", "is empty");
  if (!percent_decode(host, out.host)) return error("host", "has a malformed %-escape");
  if (!valid_host(out.host, bracketed)) {
    return error("host", bracketed ? "in brackets is not an IPv6 address"
                                   : "is not a host name or IP address");
  }
  auto port = parse_port(port_text);
  if (!port || *port == 0) {
    return error("port",
                 "must be a number from 1 to 65535, not \"" + std::string(port_text) + "\"");
  }
  out.port = *port;

  if (auto wrong = read_query(query, out)) return *wrong;
  return out;
}

std::string bytes_as_characters(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    if (b < 0x80) {
      out += static_cast<char>(b);
    } else {
      out += static_cast<char>(0xC0 | (b >> 6));
      out += static_cast<char>(0x80 | (b & 0x3F));
    }
  }
  return out;
}

std::optional<std::string> characters_as_bytes(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      continue;
    }
    // Two-byte UTF-8 of U+0080..U+00FF: C2 or C3, then a continuation byte.
    if ((b != 0xC2 && b != 0xC3) || i + 1 == text.size()) return std::nullopt;
    auto next = static_cast<unsigned char>(text[++i]);
    if ((next & 0xC0) != 0x80) return std::nullopt;
    out += static_cast<char>(((b & 0x03) << 6) | (next & 0x3F));
  }
  return out;
}

std::string format_server_url(const server_url& u) {
  std::string s(scheme);
  if (u.method.starts_with("2022-")) {
    // SIP002: the 2022 methods' userinfo is percent-encoded, never base64.
    s += percent_encode(u.method);
    s += ':';
    s += percent_encode(u.password);
  } else {
    s += base64url(u.method + ":" + u.password);
  }
  s += '@';
  // Appended piece by piece: `"#" + text` (a prepend) trips GCC 12's -Wrestrict at -O3, a
  // false positive inside libstdc++ (GCC bug 105329).
  if (u.host.find(':') != std::string::npos) {
    s += '[';
    s += u.host;
    s += ']';
  } else {
    s += percent_encode(u.host);
  }
  s += ':';
  s += std::to_string(u.port);
  char separator = '?';
  if (!u.plugin.empty() || !u.prefix.empty()) s += '/';
  if (!u.plugin.empty()) {
    s += separator;
    s += "plugin=";
    s += percent_encode(u.plugin);
    separator = '&';
  }
  if (!u.prefix.empty()) {
    s += separator;
    s += "prefix=";
    s += percent_encode(bytes_as_characters(u.prefix));
  }
  if (!u.tag.empty()) {
    s += '#';
    s += percent_encode(u.tag);
  }
  return s;
}

}  // namespace ss
