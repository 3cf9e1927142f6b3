#include "shadowsocks/codec/text.hpp"

#include <algorithm>
#include <charconv>

namespace ss {

std::optional<std::int64_t> parse_integer(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  // Digits only: "+80" and "-0" are not ports.
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  auto n = parse_integer(text);
  if (!n || *n > 0xFFFF) return std::nullopt;
  return static_cast<std::uint16_t>(*n);
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

result<host_port_text, host_port_error> split_host_port(std::string_view text) {
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return host_port_error::unclosed_bracket;
    auto after = text.substr(close + 1);
    if (!after.starts_with(':')) return host_port_error::missing_port;
    return host_port_text{text.substr(1, close - 1), after.substr(1), true};
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return host_port_error::missing_port;
  return host_port_text{text.substr(0, colon), text.substr(colon + 1), false};
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  for (;;) {
    auto at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text = text.substr(at + 1);
  }
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() &&
         equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

std::optional<url_text> split_url(std::string_view text, std::string_view scheme) {
  if (!starts_with_ignoring_case(text, scheme)) return std::nullopt;
  auto rest = text.substr(scheme.size());
  auto end = rest.find_first_of("/?#");
  url_text out{rest.substr(0, end),
               end == std::string_view::npos ? std::string("/") : std::string(rest.substr(end))};
  if (auto hash = out.target.find('#'); hash != std::string::npos) out.target.erase(hash);
  if (out.target.empty() || out.target.front() != '/') out.target.insert(out.target.begin(), '/');
  if (out.target.find_first_of(" \r\n") != std::string::npos) return std::nullopt;
  return out;
}

std::uint64_t fnv1a_64(std::span<const std::uint8_t> bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (auto b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t fnv1a_64(std::string_view text) noexcept {
  return fnv1a_64({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

}  // namespace ss
