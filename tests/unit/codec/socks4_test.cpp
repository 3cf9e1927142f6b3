#include "shadowsocks/codec/socks4.hpp"

#include "test_support.hpp"

namespace ss::socks4 {
namespace {

using test::bytes;

// Appends `text` and its terminating NUL (a USERID or a 4a host name).
void append_field(bytes& msg, const std::string& text) {
  msg.insert(msg.end(), text.begin(), text.end());
  msg.push_back(0);
}

// The bytes curl --socks4 sends for 127.0.0.1:8080 without a user (USERID empty).
TEST(Socks4Request, DecodesConnectToIpv4) {
  bytes msg{0x04, 0x01, 0x1F, 0x90, 127, 0, 0, 1, 0x00};
  auto r = test::expect_decodes_at_every_split(msg, decode_request);
  EXPECT_EQ(r.cmd, command::connect);
  EXPECT_EQ(r.target.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(r.user_id, "");
}

// SOCKS4a: DSTIP 0.0.0.x (x != 0), then USERID and the host name, each ending in NUL.
TEST(Socks4Request, Decodes4aHostNameAfterUserId) {
  bytes msg{0x04, 0x01, 0x00, 0x50, 0, 0, 0, 0x7F};
  append_field(msg, "fred");
  append_field(msg, "example.com");
  auto r = test::expect_decodes_at_every_split(msg, decode_request);
  EXPECT_EQ(r.target.type(), address_type::domain);
  EXPECT_EQ(r.target.to_string(), "example.com:80");
  EXPECT_EQ(r.user_id, "fred");
}

TEST(Socks4Request, A4aHostThatIsAnIpLiteralBecomesAnAddress) {
  bytes msg{0x04, 0x01, 0x01, 0xBB, 0, 0, 0, 1, 0};
  append_field(msg, "10.1.2.3");
  auto r = test::expect_decodes_at_every_split(msg, decode_request);
  EXPECT_EQ(r.target.type(), address_type::ipv4);
  EXPECT_EQ(r.target.to_string(), "10.1.2.3:443");
  // An IPv6 literal too (found by fuzz_socks4): served as the address.
  bytes v6{0x04, 0x01, 0x01, 0xBB, 0, 0, 0, 1, 0};
  append_field(v6, "::1");
  EXPECT_EQ(test::expect_decodes_at_every_split(v6, decode_request).target.to_string(),
            "[::1]:443");
}

TEST(Socks4Request, BindIsDecodedSoThatItCanBeRefused) {
  bytes msg{0x04, 0x02, 0x00, 0x15, 10, 0, 0, 1, 0x00};
  auto r = test::expect_decodes_at_every_split(msg, decode_request);
  EXPECT_EQ(r.cmd, command::bind);
}

TEST(Socks4Request, RejectsBadVersionAndCommandAtOnce) {
  test::expect_error_from({0x05, 0x01, 0x00}, 1, errc::socks4_bad_version, decode_request);
  test::expect_error_from({0x04, 0x03, 0x00, 0x50}, 2, errc::socks4_bad_command, decode_request);
  test::expect_error_from({0x04, 0x00}, 2, errc::socks4_bad_command, decode_request);
}

TEST(Socks4Request, FieldsWithoutTheirNulWithin255BytesAreRefused) {
  bytes msg{0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4};
  msg.insert(msg.end(), 255, 'u');
  // 255 bytes of USERID: the NUL may still come.
  EXPECT_TRUE(decode_request(msg).needs_more());
  msg.push_back('u');
  EXPECT_EQ(decode_request(msg).error, errc::socks4_too_long);

  bytes four_a{0x04, 0x01, 0x00, 0x50, 0, 0, 0, 9, 0};
  four_a.insert(four_a.end(), 256, 'h');
  EXPECT_EQ(decode_request(four_a).error, errc::socks4_too_long);
  bytes empty_host{0x04, 0x01, 0x00, 0x50, 0, 0, 0, 9, 0, 0};
  EXPECT_EQ(decode_request(empty_host).error, errc::empty_domain);
}

TEST(Socks4Request, EncodeDecodeRoundTrip) {
  for (const auto* text : {"192.0.2.7:65535", "example.org:443"}) {
    auto target = *target_address::parse(text);
    bytes out;
    ASSERT_FALSE(encode_request(command::connect, target, "someone", out));
    auto r = test::expect_decodes_at_every_split(out, decode_request);
    EXPECT_EQ(r.target, target);
    EXPECT_EQ(r.user_id, "someone");
  }
  bytes out;
  EXPECT_EQ(encode_request(command::connect, *target_address::parse("[::1]:80"), "", out),
            make_error_code(errc::bad_address_type));
  EXPECT_EQ(
      encode_request(command::connect, *target_address::parse("a:1"), std::string(256, 'u'), out),
      make_error_code(errc::socks4_too_long));
  EXPECT_TRUE(out.empty());
}

TEST(Socks4Reply, IsEightBytesWithVersionZero) {
  bytes out;
  encode_reply(reply_code::granted, out);
  EXPECT_EQ(out, (bytes{0x00, 0x5A, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_reply), reply_code::granted);
  out.clear();
  encode_reply(reply_code::rejected, out);
  EXPECT_EQ(out[1], 0x5B);
  test::expect_error_from({0x04, 0x5A}, 1, errc::socks4_bad_version, decode_reply);
}

}  // namespace
}  // namespace ss::socks4
