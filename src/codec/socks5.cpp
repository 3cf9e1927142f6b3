#include "shadowsocks/codec/socks5.hpp"

#include <algorithm>

namespace ss::socks5 {

bool greeting::offers(method m) const noexcept {
  return std::find(methods.begin(), methods.end(), static_cast<std::uint8_t>(m)) != methods.end();
}

decoded<greeting> decode_greeting(bytes_view in) {
  using result_t = decoded<greeting>;
  if (in.empty()) return result_t::more();
  if (in[0] != version) return result_t::fail(errc::socks5_bad_version);
  if (in.size() < 2) return result_t::more();
  std::size_t n = in[1];
  if (n == 0) return result_t::fail(errc::socks5_no_methods);
  if (in.size() < 2 + n) return result_t::more();
  greeting g;
  g.methods.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
  return result_t::ok(std::move(g), 2 + n);
}

void encode_greeting(const std::vector<method>& methods, std::vector<std::uint8_t>& out) {
  out.push_back(version);
  out.push_back(static_cast<std::uint8_t>(methods.size()));
  for (auto m : methods)
    out.push_back(static_cast<std::uint8_t>(m));
}

void encode_method_selection(method m, std::vector<std::uint8_t>& out) {
  out.push_back(version);
  out.push_back(static_cast<std::uint8_t>(m));
}

decoded<method> decode_method_selection(bytes_view in) {
  using result_t = decoded<method>;
  if (in.empty()) return result_t::more();
  if (in[0] != version) return result_t::fail(errc::socks5_bad_version);
  if (in.size() < 2) return result_t::more();
  return result_t::ok(static_cast<method>(in[1]), 2);
}

decoded<credentials> decode_auth_request(bytes_view in) {
  using result_t = decoded<credentials>;
  if (in.empty()) return result_t::more();
  if (in[0] != auth_version) return result_t::fail(errc::socks5_bad_version);
  if (in.size() < 2) return result_t::more();
  // RFC 1929 says 1 to 255 for both lengths, but clients such as curl send PLEN 0 for an empty
  // password; like shadowsocks-rust we accept 0 and let the credential check decide.
  std::size_t ulen = in[1];
  if (in.size() < 2 + ulen + 1) return result_t::more();
  std::size_t plen = in[2 + ulen];
  std::size_t total = 2 + ulen + 1 + plen;
  if (in.size() < total) return result_t::more();
  credentials c;
  c.username.assign(reinterpret_cast<const char*>(in.data() + 2), ulen);
  c.password.assign(reinterpret_cast<const char*>(in.data() + 3 + ulen), plen);
  return result_t::ok(std::move(c), total);
}

std::error_code encode_auth_request(const credentials& c, std::vector<std::uint8_t>& out) {
  if (c.username.size() > 255 || c.password.size() > 255) return errc::socks5_auth_failed;
  out.push_back(auth_version);
  out.push_back(static_cast<std::uint8_t>(c.username.size()));
  out.insert(out.end(), c.username.begin(), c.username.end());
  out.push_back(static_cast<std::uint8_t>(c.password.size()));
  out.insert(out.end(), c.password.begin(), c.password.end());
  return {};
}

void encode_auth_reply(bool success, std::vector<std::uint8_t>& out) {
  out.push_back(auth_version);
  out.push_back(success ? 0x00 : 0x01);
}

decoded<bool> decode_auth_reply(bytes_view in) {
  using result_t = decoded<bool>;
  if (in.empty()) return result_t::more();
  if (in[0] != auth_version) return result_t::fail(errc::socks5_bad_version);
  if (in.size() < 2) return result_t::more();
  return result_t::ok(in[1] == 0x00, 2);
}

namespace {

// The shared request/reply layout: VER, one code byte, RSV, then an address.
struct header_and_address {
  std::uint8_t code = 0;
  target_address address;
};

decoded<header_and_address> decode_header_and_address(bytes_view in) {
  using result_t = decoded<header_and_address>;
  if (in.empty()) return result_t::more();
  if (in[0] != version) return result_t::fail(errc::socks5_bad_version);
  if (in.size() < 3) return result_t::more();
  auto addr = decode_address(in.subspan(3));
  if (!addr.is_done()) return addr.is_error() ? result_t::fail(addr.error) : result_t::more();
  return result_t::ok({in[1], std::move(addr.value)}, 3 + addr.consumed);
}

void encode_header_and_address(std::uint8_t code, const target_address& a,
                               std::vector<std::uint8_t>& out) {
  out.push_back(version);
  out.push_back(code);
  out.push_back(0x00);
  encode_address(a, out);
}

}  // namespace

decoded<request> decode_request(bytes_view in) {
  using result_t = decoded<request>;
  // The command is judged as soon as it is seen, so a bad one is answered (REP 0x07) without
  // waiting for an address that may never come.
  if (in.size() >= 2 && in[0] == version &&
      (in[1] < static_cast<std::uint8_t>(command::connect) ||
       in[1] > static_cast<std::uint8_t>(command::udp_associate))) {
    return result_t::fail(errc::socks5_bad_command);
  }
  auto d = decode_header_and_address(in);
  if (!d.is_done()) return d.is_error() ? result_t::fail(d.error) : result_t::more();
  return result_t::ok({static_cast<command>(d.value.code), std::move(d.value.address)}, d.consumed);
}

void encode_request(command cmd, const target_address& target, std::vector<std::uint8_t>& out) {
  encode_header_and_address(static_cast<std::uint8_t>(cmd), target, out);
}

void encode_reply(reply_code rep, const target_address& bound, std::vector<std::uint8_t>& out) {
  encode_header_and_address(static_cast<std::uint8_t>(rep), bound, out);
}

decoded<reply> decode_reply(bytes_view in) {
  using result_t = decoded<reply>;
  if (in.size() >= 2 && in[0] == version &&
      in[1] > static_cast<std::uint8_t>(reply_code::address_type_not_supported)) {
    return result_t::fail(errc::socks5_bad_reply);
  }
  auto d = decode_header_and_address(in);
  if (!d.is_done()) return d.is_error() ? result_t::fail(d.error) : result_t::more();
  return result_t::ok({static_cast<reply_code>(d.value.code), std::move(d.value.address)},
                      d.consumed);
}

decoded<udp_header> decode_udp_header(bytes_view in) {
  using result_t = decoded<udp_header>;
  // RSV (2 bytes) is not checked, as libev and shadowsocks-rust do not.
  if (in.size() < 3) return result_t::more();
  auto addr = decode_address(in.subspan(3));
  if (!addr.is_done()) return addr.is_error() ? result_t::fail(addr.error) : result_t::more();
  return result_t::ok({in[2], std::move(addr.value)}, 3 + addr.consumed);
}

void encode_udp_header(const target_address& target, std::vector<std::uint8_t>& out) {
  out.push_back(0x00);
  out.push_back(0x00);
  out.push_back(0x00);
  encode_address(target, out);
}

reply_code reply_code_for(std::error_code ec) noexcept {
  if (!ec) return reply_code::succeeded;
  if (ec.category() == error_category()) {
    switch (static_cast<errc>(ec.value())) {
      case errc::socks5_bad_command:
      case errc::socks5_command_not_supported:
        return reply_code::command_not_supported;
      case errc::bad_address_type:
      case errc::empty_domain:
        return reply_code::address_type_not_supported;
      case errc::connection_refused:
        return reply_code::connection_refused;
      case errc::host_unreachable:
        return reply_code::host_unreachable;
      case errc::network_unreachable:
        return reply_code::network_unreachable;
      case errc::ttl_expired:
        return reply_code::ttl_expired;
      case errc::not_allowed:
        return reply_code::not_allowed;
      default:
        return reply_code::general_failure;
    }
  }
  if (ec == std::errc::connection_refused) return reply_code::connection_refused;
  if (ec == std::errc::host_unreachable) return reply_code::host_unreachable;
  if (ec == std::errc::network_unreachable) return reply_code::network_unreachable;
  if (ec == std::errc::timed_out) return reply_code::ttl_expired;
  if (ec == std::errc::address_family_not_supported) {
    return reply_code::address_type_not_supported;
  }
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
    return reply_code::not_allowed;
  }
  return reply_code::general_failure;
}

}  // namespace ss::socks5
