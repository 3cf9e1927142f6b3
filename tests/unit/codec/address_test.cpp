#include "shadowsocks/codec/address.hpp"

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

TEST(Address, Ipv4EncodesAsRfc1928) {
  auto a = target_address::ipv4({192, 168, 1, 2}, 8080);
  bytes out;
  encode_address(a, out);
  EXPECT_EQ(out, (bytes{0x01, 192, 168, 1, 2, 0x1F, 0x90}));
  EXPECT_EQ(a.encoded_size(), out.size());
  EXPECT_EQ(a.to_string(), "192.168.1.2:8080");
  auto back = test::expect_decodes_at_every_split(out, decode_address);
  EXPECT_EQ(back, a);
}

TEST(Address, Ipv6EncodesAsRfc1928) {
  target_address::ipv6_bytes ip{};
  ip[15] = 1;
  auto a = target_address::ipv6(ip, 443);
  bytes out;
  encode_address(a, out);
  bytes want{0x04};
  want.insert(want.end(), ip.begin(), ip.end());
  want.push_back(0x01);
  want.push_back(0xBB);
  EXPECT_EQ(out, want);
  EXPECT_EQ(a.to_string(), "[::1]:443");
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_address), a);
}

TEST(Address, DomainEncodesWithLengthByte) {
  auto a = target_address::domain("example.com", 80);
  ASSERT_TRUE(a);
  bytes out;
  encode_address(*a, out);
  bytes want{0x03, 11};
  for (char c : std::string("example.com"))
    want.push_back(static_cast<std::uint8_t>(c));
  want.push_back(0x00);
  want.push_back(0x50);
  EXPECT_EQ(out, want);
  EXPECT_EQ(a->to_string(), "example.com:80");
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_address), *a);
}

TEST(Address, LongestDomainRoundTrips) {
  std::string name(255, 'a');
  auto a = target_address::domain(name, 1);
  ASSERT_TRUE(a);
  bytes out;
  encode_address(*a, out);
  EXPECT_EQ(out.size(), max_address_size);
  EXPECT_EQ(test::expect_decodes_at_every_split(out, decode_address), *a);
}

TEST(Address, DomainOfWrongSizeIsRefused) {
  EXPECT_EQ(target_address::domain("", 1).error(), errc::empty_domain);
  EXPECT_EQ(target_address::domain(std::string(256, 'a'), 1).error(), errc::bad_address_type);
}

TEST(Address, ZeroLengthDomainIsRejectedOnTheWire) {
  test::expect_error_from({0x03, 0x00, 0x00, 0x50}, 2, errc::empty_domain, decode_address);
}

TEST(Address, UnknownAddressTypesAreRejected) {
  for (int atyp = 0; atyp < 256; ++atyp) {
    if (atyp == 1 || atyp == 3 || atyp == 4) continue;
    bytes msg{static_cast<std::uint8_t>(atyp), 1, 2, 3, 4, 5, 6};
    test::expect_error_from(msg, 1, errc::bad_address_type, decode_address);
  }
}

TEST(Address, NeverReadsPastTheDeclaredDomainLength) {
  // LEN says 3; the decoder must stop after 3 + port even if more bytes follow.
  bytes msg{0x03, 3, 'a', 'b', 'c', 0x01, 0x02, 'x', 'y', 'z'};
  auto d = decode_address(msg);
  ASSERT_TRUE(d.is_done());
  EXPECT_EQ(d.consumed, 7U);
  EXPECT_EQ(d.value.name(), "abc");
  EXPECT_EQ(d.value.port(), 0x0102);
}

TEST(Address, ParsesHostPortText) {
  auto v4 = target_address::parse("127.0.0.1:1080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->type(), address_type::ipv4);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:1080");
  auto v6 = target_address::parse("[::1]:53");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->type(), address_type::ipv6);
  EXPECT_EQ(v6->to_string(), "[::1]:53");
  auto name = target_address::parse("localhost:8388");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->type(), address_type::domain);
  EXPECT_EQ(name->port(), 8388);
  for (auto bad : {"", "localhost", "localhost:", "localhost:65536", "localhost:-1", "::1:80",
                   "[::1]80", "[nope]:80", ":80", "host:8o"}) {
    EXPECT_FALSE(target_address::parse(bad)) << bad;
  }
}

TEST(Address, TextWithANulIsNoIpLiteral) {
  // inet_pton stops at the NUL; the whole text must decide (found by fuzz_sip002).
  using namespace std::string_view_literals;
  auto a = target_address::from_host("192.168.100.1\0junk"sv, 80);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type(), address_type::domain);
  EXPECT_FALSE(target_address::parse("[::1\0x]:80"sv));
}

TEST(Authority, HostAndPortWithADefault) {
  auto a = parse_authority("example.com", 80);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "example.com:80");
  a = parse_authority("[2001:db8::1]:8443", std::nullopt);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type(), address_type::ipv6);
  EXPECT_EQ(a->port(), 8443);
  a = parse_authority("[::1]", 443);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "[::1]:443");
  a = parse_authority("192.0.2.1", 80);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type(), address_type::ipv4);
  EXPECT_FALSE(parse_authority("example.com", std::nullopt));  // the port is required
  EXPECT_FALSE(parse_authority("user@example.com", 80));
  EXPECT_FALSE(parse_authority("example.com:0", 80));
  EXPECT_FALSE(parse_authority("[::1]x", 80));
  EXPECT_FALSE(parse_authority("", 80));
}

}  // namespace
}  // namespace ss
