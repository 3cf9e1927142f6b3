#include "shadowsocks/codec/socks4.hpp"

#include <algorithm>
#include <optional>

namespace ss::socks4 {

namespace {

constexpr std::size_t fixed_size = 8;  // VN CD DSTPORT DSTIP

// The NUL-terminated field at `in[from]`: its length (without the NUL), or nullopt if no NUL is
// there yet; `too_long` when none can come within `max_field` bytes.
std::optional<std::size_t> field_at(bytes_view in, std::size_t from, bool& too_long) {
  auto rest = in.subspan(from);
  auto window = rest.first(std::min(rest.size(), max_field + 1));
  auto nul = std::find(window.begin(), window.end(), std::uint8_t{0});
  if (nul != window.end()) return static_cast<std::size_t>(nul - window.begin());
  too_long = window.size() > max_field;
  return std::nullopt;
}

}  // namespace

decoded<request> decode_request(bytes_view in) {
  using result_t = decoded<request>;
  if (in.empty()) return result_t::more();
  if (in[0] != version) return result_t::fail(errc::socks4_bad_version);
  if (in.size() < 2) return result_t::more();
  if (in[1] != static_cast<std::uint8_t>(command::connect) &&
      in[1] != static_cast<std::uint8_t>(command::bind)) {
    return result_t::fail(errc::socks4_bad_command);
  }
  if (in.size() < fixed_size) return result_t::more();
  bool too_long = false;
  auto user_len = field_at(in, fixed_size, too_long);
  if (!user_len) return too_long ? result_t::fail(errc::socks4_too_long) : result_t::more();
  request r;
  r.cmd = static_cast<command>(in[1]);
  r.user_id.assign(reinterpret_cast<const char*>(in.data() + fixed_size), *user_len);
  std::uint16_t port = load_be16(in.data() + 2);
  target_address::ipv4_bytes ip{in[4], in[5], in[6], in[7]};
  std::size_t end = fixed_size + *user_len + 1;
  // 4a: 0.0.0.x, x != 0, is no address a client could mean; a host name follows.
  if (ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0) {
    auto host_len = field_at(in, end, too_long);
    if (!host_len) return too_long ? result_t::fail(errc::socks4_too_long) : result_t::more();
    std::string_view host(reinterpret_cast<const char*>(in.data() + end), *host_len);
    auto target = target_address::from_host(host, port);
    if (!target) return result_t::fail(errc::empty_domain);
    r.target = std::move(*target);
    end += *host_len + 1;
  } else {
    r.target = target_address::ipv4(ip, port);
  }
  return result_t::ok(std::move(r), end);
}

std::error_code encode_request(command cmd, const target_address& target,
                               const std::string& user_id, std::vector<std::uint8_t>& out) {
  if (target.type() == address_type::ipv6) return errc::bad_address_type;
  if (user_id.size() > max_field) return errc::socks4_too_long;
  if (target.type() == address_type::domain && target.name().size() > max_field) {
    return errc::socks4_too_long;
  }
  out.push_back(version);
  out.push_back(static_cast<std::uint8_t>(cmd));
  std::uint8_t port[2];
  store_be16(port, target.port());
  out.insert(out.end(), port, port + 2);
  if (target.type() == address_type::ipv4) {
    const auto& ip = target.v4();
    out.insert(out.end(), ip.begin(), ip.end());
  } else {
    out.insert(out.end(), {0, 0, 0, 1});
  }
  out.insert(out.end(), user_id.begin(), user_id.end());
  out.push_back(0);
  if (target.type() == address_type::domain) {
    const auto& host = target.name();
    out.insert(out.end(), host.begin(), host.end());
    out.push_back(0);
  }
  return {};
}

void encode_reply(reply_code rep, std::vector<std::uint8_t>& out) {
  out.insert(out.end(), {0x00, static_cast<std::uint8_t>(rep), 0, 0, 0, 0, 0, 0});
}

decoded<reply_code> decode_reply(bytes_view in) {
  using result_t = decoded<reply_code>;
  if (in.empty()) return result_t::more();
  if (in[0] != 0x00) return result_t::fail(errc::socks4_bad_version);
  if (in.size() < fixed_size) return result_t::more();
  return result_t::ok(static_cast<reply_code>(in[1]), fixed_size);
}

}  // namespace ss::socks4
