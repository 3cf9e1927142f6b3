#include "shadowsocks/codec/socks5.hpp"

#include "test_support.hpp"

namespace ss::socks5 {
namespace {

using test::bytes;

TEST(Socks5Greeting, DecodesEveryMethodList) {
  bytes msg{0x05, 0x03, 0x00, 0x01, 0x02};
  auto g = test::expect_decodes_at_every_split(msg, decode_greeting);
  EXPECT_EQ(g.methods, (bytes{0x00, 0x01, 0x02}));
  EXPECT_TRUE(g.offers(method::no_auth));
  EXPECT_TRUE(g.offers(method::username_password));
  EXPECT_FALSE(g.offers(method::no_acceptable));
}

TEST(Socks5Greeting, EncodeDecodeRoundTrip) {
  bytes out;
  encode_greeting({method::username_password}, out);
  EXPECT_EQ(out, (bytes{0x05, 0x01, 0x02}));
  auto g = test::expect_decodes_at_every_split(out, decode_greeting);
  EXPECT_FALSE(g.offers(method::no_auth));
}

TEST(Socks5Greeting, MaximumMethods) {
  bytes msg{0x05, 0xFF};
  for (int i = 0; i < 255; ++i)
    msg.push_back(static_cast<std::uint8_t>(i));
  auto g = test::expect_decodes_at_every_split(msg, decode_greeting);
  EXPECT_EQ(g.methods.size(), 255U);
}

TEST(Socks5Greeting, RejectsBadVersionAndNoMethods) {
  test::expect_error_from({0x04, 0x01, 0x00}, 1, errc::socks5_bad_version, decode_greeting);
  // An HTTP request sent to the SOCKS port is refused at its first byte.
  test::expect_error_from(test::to_bytes("GET / HTTP/1.1\r\n"), 1, errc::socks5_bad_version,
                          decode_greeting);
  test::expect_error_from({0x05, 0x00}, 2, errc::socks5_no_methods, decode_greeting);
}

TEST(Socks5MethodSelection, EveryMethodRoundTrips) {
  for (auto m :
       {method::no_auth, method::gssapi, method::username_password, method::no_acceptable}) {
    bytes out;
    encode_method_selection(m, out);
    EXPECT_EQ(out, (bytes{0x05, static_cast<std::uint8_t>(m)}));
    EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_method_selection), m);
  }
  test::expect_error_from({0x01, 0x00}, 1, errc::socks5_bad_version, decode_method_selection);
}

TEST(Socks5Auth, Rfc1929RequestRoundTrips) {
  credentials c{"user", "pässwörd"};
  bytes out;
  ASSERT_FALSE(encode_auth_request(c, out));
  bytes want{0x01, 4, 'u', 's', 'e', 'r', static_cast<std::uint8_t>(c.password.size())};
  want.insert(want.end(), c.password.begin(), c.password.end());
  EXPECT_EQ(out, want);
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_auth_request), c);
}

TEST(Socks5Auth, LongestAndEmptyFields) {
  credentials longest{std::string(255, 'u'), std::string(255, 'p')};
  bytes out;
  ASSERT_FALSE(encode_auth_request(longest, out));
  EXPECT_EQ(out.size(), 3U + 255 + 255);
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_auth_request), longest);

  // curl sends PLEN = 0 for "user:"; accepted, the credential check decides.
  bytes empty_password{0x01, 1, 'u', 0};
  auto c = test::expect_decodes_at_every_split(empty_password, decode_auth_request);
  EXPECT_EQ(c.username, "u");
  EXPECT_EQ(c.password, "");

  bytes too_long;
  EXPECT_EQ(encode_auth_request({std::string(256, 'u'), "p"}, too_long),
            make_error_code(errc::socks5_auth_failed));
  EXPECT_TRUE(too_long.empty());
}

TEST(Socks5Auth, RejectsWrongSubnegotiationVersion) {
  test::expect_error_from({0x05, 1, 'u', 1, 'p'}, 1, errc::socks5_bad_version, decode_auth_request);
}

TEST(Socks5Auth, ReplyBothOutcomes) {
  bytes ok;
  encode_auth_reply(true, ok);
  EXPECT_EQ(ok, (bytes{0x01, 0x00}));
  EXPECT_TRUE(test::expect_decodes_at_every_split(ok, decode_auth_reply));
  bytes fail;
  encode_auth_reply(false, fail);
  EXPECT_EQ(fail, (bytes{0x01, 0x01}));
  EXPECT_FALSE(test::expect_decodes_at_every_split(fail, decode_auth_reply));
  test::expect_error_from({0x05, 0x00}, 1, errc::socks5_bad_version, decode_auth_reply);
}

TEST(Socks5Request, EveryCommandAndAddressType) {
  auto v6 = target_address::parse("[2001:db8::1]:443");
  auto name = target_address::domain("example.org", 80);
  ASSERT_TRUE(v6 && name);
  for (auto cmd : {command::connect, command::bind, command::udp_associate}) {
    for (const auto& target : {target_address::ipv4({1, 2, 3, 4}, 53), *v6, *name}) {
      bytes out;
      encode_request(cmd, target, out);
      EXPECT_EQ(out[0], 0x05);
      EXPECT_EQ(out[1], static_cast<std::uint8_t>(cmd));
      EXPECT_EQ(out[2], 0x00);
      auto r = test::expect_decodes_at_every_split(out, decode_request);
      EXPECT_EQ(r.cmd, cmd);
      EXPECT_EQ(r.target, target);
    }
  }
}

TEST(Socks5Request, KnownBytesOfAConnect) {
  // CONNECT example.com:443 as curl --socks5-hostname sends it.
  bytes msg{0x05, 0x01, 0x00, 0x03, 11,  'e', 'x', 'a',  'm',
            'p',  'l',  'e',  '.',  'c', 'o', 'm', 0x01, 0xBB};
  auto r = test::expect_decodes_at_every_split(msg, decode_request);
  EXPECT_EQ(r.cmd, command::connect);
  EXPECT_EQ(r.target.to_string(), "example.com:443");
}

TEST(Socks5Request, ErrorsAndTheirReplyCodes) {
  test::expect_error_from({0x04, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0, 80}, 1, errc::socks5_bad_version,
                          decode_request);
  for (std::uint8_t cmd : {0x00, 0x04, 0x7F, 0xFF}) {
    test::expect_error_from({0x05, cmd, 0x00, 0x01, 1, 2, 3, 4, 0, 80}, 2, errc::socks5_bad_command,
                            decode_request);
  }
  test::expect_error_from({0x05, 0x01, 0x00, 0x02, 1, 2, 3, 4, 0, 80}, 4, errc::bad_address_type,
                          decode_request);
  test::expect_error_from({0x05, 0x01, 0x00, 0x03, 0x00, 0, 80}, 5, errc::empty_domain,
                          decode_request);
  EXPECT_EQ(reply_code_for(errc::socks5_bad_command), reply_code::command_not_supported);
  EXPECT_EQ(reply_code_for(errc::socks5_command_not_supported), reply_code::command_not_supported);
  EXPECT_EQ(reply_code_for(errc::bad_address_type), reply_code::address_type_not_supported);
  EXPECT_EQ(reply_code_for(errc::empty_domain), reply_code::address_type_not_supported);
}

TEST(Socks5Reply, EveryReplyCodeRoundTrips) {
  auto bound = target_address::ipv4({127, 0, 0, 1}, 1080);
  for (int rep = 0; rep <= 8; ++rep) {
    bytes out;
    encode_reply(static_cast<reply_code>(rep), bound, out);
    EXPECT_EQ(out,
              (bytes{0x05, static_cast<std::uint8_t>(rep), 0x00, 0x01, 127, 0, 0, 1, 0x04, 0x38}));
    auto r = test::expect_decodes_at_every_split(out, decode_reply);
    EXPECT_EQ(static_cast<int>(r.rep), rep);
    EXPECT_EQ(r.bound, bound);
  }
  test::expect_error_from({0x05, 0x09, 0x00, 0x01, 0, 0, 0, 0, 0, 0}, 2, errc::socks5_bad_reply,
                          decode_reply);
}

TEST(Socks5Reply, ErrorsMapToRfc1928Codes) {
  EXPECT_EQ(reply_code_for({}), reply_code::succeeded);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::connection_refused)),
            reply_code::connection_refused);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::host_unreachable)),
            reply_code::host_unreachable);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::network_unreachable)),
            reply_code::network_unreachable);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::timed_out)), reply_code::ttl_expired);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::permission_denied)),
            reply_code::not_allowed);
  EXPECT_EQ(reply_code_for(std::error_code(ECONNREFUSED, std::system_category())),
            reply_code::connection_refused);
  EXPECT_EQ(reply_code_for(errc::connection_refused), reply_code::connection_refused);
  EXPECT_EQ(reply_code_for(errc::host_unreachable), reply_code::host_unreachable);
  EXPECT_EQ(reply_code_for(errc::network_unreachable), reply_code::network_unreachable);
  EXPECT_EQ(reply_code_for(errc::ttl_expired), reply_code::ttl_expired);
  EXPECT_EQ(reply_code_for(errc::not_allowed), reply_code::not_allowed);
  EXPECT_EQ(reply_code_for(errc::aead_auth_failed), reply_code::general_failure);
  EXPECT_EQ(reply_code_for(std::make_error_code(std::errc::io_error)), reply_code::general_failure);
}

TEST(Socks5Udp, HeaderRoundTripsAndDataFollows) {
  auto target = target_address::domain("dns.example", 53);
  ASSERT_TRUE(target);
  bytes out;
  encode_udp_header(*target, out);
  EXPECT_EQ(out[0], 0x00);
  EXPECT_EQ(out[1], 0x00);
  EXPECT_EQ(out[2], 0x00);
  auto h = test::expect_decodes_at_every_split(out, decode_udp_header);
  EXPECT_EQ(h.frag, 0);
  EXPECT_EQ(h.target, *target);
  bytes datagram = test::concat(out, test::to_bytes("query"));
  auto d = decode_udp_header(datagram);
  ASSERT_TRUE(d.is_done());
  EXPECT_EQ(bytes(datagram.begin() + static_cast<std::ptrdiff_t>(d.consumed), datagram.end()),
            test::to_bytes("query"));
}

TEST(Socks5Udp, FragIsReportedAndBadAddressRejected) {
  bytes frag{0x00, 0x00, 0x05, 0x01, 10, 0, 0, 1, 0, 53};
  auto d = decode_udp_header(frag);
  ASSERT_TRUE(d.is_done());
  EXPECT_EQ(d.value.frag, 5);
  test::expect_error_from({0x00, 0x00, 0x00, 0x05, 1, 2, 3, 4, 0, 53}, 4, errc::bad_address_type,
                          decode_udp_header);
}

}  // namespace
}  // namespace ss::socks5
