#include "shadowsocks/codec/errc.hpp"

#include <string>

namespace ss {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "shadowsocks"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "success";
      case errc::bad_address_type:
        return "unsupported address type";
      case errc::empty_domain:
        return "empty domain name";
      case errc::socks5_bad_version:
        return "bad SOCKS version";
      case errc::socks5_no_methods:
        return "SOCKS5 greeting offers no methods";
      case errc::socks5_bad_command:
        return "unknown SOCKS5 command";
      case errc::socks5_bad_reply:
        return "unknown SOCKS5 reply code";
      case errc::socks5_fragmented:
        return "fragmented SOCKS5 UDP datagram";
      case errc::socks5_command_not_supported:
        return "SOCKS5 command not supported";
      case errc::socks5_auth_failed:
        return "SOCKS5 authentication failed";
      case errc::socks4_bad_version:
        return "bad SOCKS4 version";
      case errc::socks4_bad_command:
        return "unknown SOCKS4 command";
      case errc::socks4_too_long:
        return "SOCKS4 user ID or host name over 255 bytes";
      case errc::unknown_method:
        return "unknown encryption method";
      case errc::bad_key:
        return "bad key";
      case errc::aead_auth_failed:
        return "authentication tag mismatch";
      case errc::aead_bad_length:
        return "bad AEAD chunk length";
      case errc::aead_short_packet:
        return "AEAD packet too short";
      case errc::crypto_failure:
        return "cryptographic library failure";
      case errc::replayed_salt:
        return "replayed salt";
      case errc::no_key_opens:
        return "no key of this port opens it";
      case errc::sip022_bad_type:
        return "2022 header of the wrong type";
      case errc::sip022_bad_padding:
        return "2022 header padding over 900 bytes";
      case errc::sip022_empty_request:
        return "2022 request without padding or payload";
      case errc::sip022_truncated_header:
        return "2022 header cut short";
      case errc::sip022_stale_timestamp:
        return "2022 header timestamp more than 30 s off";
      case errc::sip022_wrong_salt:
        return "2022 response to another request";
      case errc::sip022_bad_session:
        return "2022 packet of another session";
      case errc::sip022_replayed_packet:
        return "2022 packet ID replayed or too old";
      case errc::sip022_unknown_user:
        return "2022 identity header of no user";
      case errc::connection_refused:
        return "connection refused";
      case errc::host_unreachable:
        return "host unreachable";
      case errc::network_unreachable:
        return "network unreachable";
      case errc::ttl_expired:
        return "TTL expired";
      case errc::not_allowed:
        return "not allowed by ruleset";
    }
    return "unknown shadowsocks error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace ss
