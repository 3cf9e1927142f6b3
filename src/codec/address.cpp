#include "shadowsocks/codec/address.hpp"

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif

#include <cstring>

#include "shadowsocks/codec/text.hpp"

namespace ss {

target_address target_address::ipv4(const ipv4_bytes& ip, std::uint16_t port) {
  target_address a;
  a.host_ = ip;
  a.port_ = port;
  return a;
}

target_address target_address::ipv6(const ipv6_bytes& ip, std::uint16_t port) {
  target_address a;
  a.host_ = ip;
  a.port_ = port;
  return a;
}

result<target_address> target_address::domain(std::string_view name, std::uint16_t port) {
  if (name.empty()) return errc::empty_domain;
  if (name.size() > max_domain_size) return errc::bad_address_type;
  target_address a;
  a.host_ = std::string(name);
  a.port_ = port;
  return a;
}

result<target_address> target_address::from_host(std::string_view host, std::uint16_t port) {
  // inet_pton reads a C string: "1.2.3.4\0junk" must not pass for 1.2.3.4 (found by
  // fuzz_sip002). Text with a NUL is no IP literal.
  if (host.find('\0') != std::string_view::npos) return domain(host, port);
  std::string text(host);
  ipv4_bytes v4{};
  if (::inet_pton(AF_INET, text.c_str(), v4.data()) == 1) return ipv4(v4, port);
  ipv6_bytes v6{};
  if (::inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return ipv6(v6, port);
  return domain(host, port);
}

result<target_address> target_address::parse(std::string_view host_port) {
  auto split = split_host_port(host_port);
  if (!split) return errc::bad_address_type;
  const auto* parts = &*split;
  if (parts->bracketed) {
    // Only an IPv6 literal goes in brackets.
    auto a = from_host(parts->host, 0);
    if (!a || a->type() != address_type::ipv6) return errc::bad_address_type;
  } else if (parts->host.find(':') != std::string_view::npos) {
    // A bare IPv6 literal has more colons; it must be bracketed to carry a port.
    return errc::bad_address_type;
  }
  auto port = parse_port(parts->port);
  if (!port) return errc::bad_address_type;
  return from_host(parts->host, *port);
}

address_type target_address::type() const noexcept {
  switch (host_.index()) {
    case 0:
      return address_type::ipv4;
    case 1:
      return address_type::domain;
    default:
      return address_type::ipv6;
  }
}

std::string target_address::host_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (type()) {
    case address_type::ipv4:
      ::inet_ntop(AF_INET, v4().data(), buf, sizeof buf);
      return buf;
    case address_type::ipv6:
      ::inet_ntop(AF_INET6, v6().data(), buf, sizeof buf);
      return buf;
    case address_type::domain:
      return name();
  }
  return {};
}

std::string target_address::to_string() const {
  auto host = host_string();
  if (type() == address_type::ipv6) host = "[" + host + "]";
  return host + ":" + std::to_string(port_);
}

std::size_t target_address::encoded_size() const noexcept {
  switch (type()) {
    case address_type::ipv4:
      return 1 + 4 + 2;
    case address_type::ipv6:
      return 1 + 16 + 2;
    case address_type::domain:
      return 1 + 1 + name().size() + 2;
  }
  return 0;
}

std::size_t encode_address(const target_address& a, mutable_bytes out) noexcept {
  std::uint8_t* p = out.data();
  *p++ = static_cast<std::uint8_t>(a.type());
  switch (a.type()) {
    case address_type::ipv4:
      std::memcpy(p, a.v4().data(), 4);
      p += 4;
      break;
    case address_type::ipv6:
      std::memcpy(p, a.v6().data(), 16);
      p += 16;
      break;
    case address_type::domain:
      *p++ = static_cast<std::uint8_t>(a.name().size());
      std::memcpy(p, a.name().data(), a.name().size());
      p += a.name().size();
      break;
  }
  store_be16(p, a.port());
  p += 2;
  return static_cast<std::size_t>(p - out.data());
}

void encode_address(const target_address& a, std::vector<std::uint8_t>& out) {
  auto old = out.size();
  out.resize(old + a.encoded_size());
  encode_address(a, mutable_bytes(out).subspan(old));
}

decoded<target_address> decode_address(bytes_view in) {
  using result_t = decoded<target_address>;
  if (in.empty()) return result_t::more();
  switch (in[0]) {
    case static_cast<std::uint8_t>(address_type::ipv4): {
      if (in.size() < 1 + 4 + 2) return result_t::more();
      target_address::ipv4_bytes ip;
      std::memcpy(ip.data(), in.data() + 1, 4);
      return result_t::ok(target_address::ipv4(ip, load_be16(in.data() + 5)), 7);
    }
    case static_cast<std::uint8_t>(address_type::ipv6): {
      if (in.size() < 1 + 16 + 2) return result_t::more();
      target_address::ipv6_bytes ip;
      std::memcpy(ip.data(), in.data() + 1, 16);
      return result_t::ok(target_address::ipv6(ip, load_be16(in.data() + 17)), 19);
    }
    case static_cast<std::uint8_t>(address_type::domain): {
      if (in.size() < 2) return result_t::more();
      std::size_t len = in[1];
      if (len == 0) return result_t::fail(errc::empty_domain);
      if (in.size() < 2 + len + 2) return result_t::more();
      std::string_view name(reinterpret_cast<const char*>(in.data() + 2), len);
      auto a = target_address::domain(name, load_be16(in.data() + 2 + len));
      if (!a) return result_t::fail(errc::empty_domain);
      return result_t::ok(std::move(a).value(), 2 + len + 2);
    }
    default:
      return result_t::fail(errc::bad_address_type);
  }
}

std::optional<target_address> parse_authority(std::string_view text,
                                              std::optional<std::uint16_t> default_port) {
  if (text.empty() || text.find('@') != std::string_view::npos) return std::nullopt;
  bool bracketed = text.front() == '[';
  auto close = text.find(']');
  auto colon = text.rfind(':');
  bool has_port = colon != std::string_view::npos && (!bracketed || colon > close);
  if (!has_port) {
    if (!default_port) return std::nullopt;
    auto host = bracketed && close != std::string_view::npos ? text.substr(1, close - 1) : text;
    if (host.empty() || (bracketed && close != text.size() - 1)) return std::nullopt;
    auto a = target_address::from_host(host, *default_port);
    if (!a) return std::nullopt;
    return std::move(*a);
  }
  auto a = target_address::parse(text);
  if (!a || a->port() == 0) return std::nullopt;
  return std::move(*a);
}

}  // namespace ss
