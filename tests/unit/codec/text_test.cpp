// The text parsers the codecs and the configuration share.
#include "shadowsocks/codec/text.hpp"

#include <gtest/gtest.h>

namespace ss {
namespace {

TEST(ParseInteger, WholeDecimalTextOnly) {
  EXPECT_EQ(parse_integer("8388"), 8388);
  EXPECT_EQ(parse_integer("-5"), -5);
  EXPECT_EQ(parse_integer("0"), 0);
  for (auto bad : {"", "x", "12x", " 1", "1 ", "+1", "0x10", "99999999999999999999"}) {
    EXPECT_FALSE(parse_integer(bad)) << bad;
  }
}

TEST(ParsePort, DigitsFromZeroTo65535) {
  EXPECT_EQ(parse_port("0"), 0);
  EXPECT_EQ(parse_port("65535"), 65535);
  for (auto bad : {"", "65536", "-1", "+80", "80a", "-0"}) {
    EXPECT_FALSE(parse_port(bad)) << bad;
  }
}

TEST(Join, SeparatorOnlyBetweenItems) {
  EXPECT_EQ(join({}), "");
  EXPECT_EQ(join({"127.0.0.1:8388"}), "127.0.0.1:8388");
  EXPECT_EQ(join({"0.0.0.0", "::"}), "0.0.0.0,::");
  EXPECT_EQ(join({"a", "", "b"}, ", "), "a, , b");
  EXPECT_EQ(join({"", "b"}), ",b");
}

TEST(SplitHostPort, NamesAddressesAndBracketedIpv6) {
  auto plain = std::get<host_port_text>(split_host_port("example.com:443"));
  EXPECT_EQ(plain.host, "example.com");
  EXPECT_EQ(plain.port, "443");
  EXPECT_FALSE(plain.bracketed);
  auto v6 = std::get<host_port_text>(split_host_port("[::1]:80"));
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, "80");
  EXPECT_TRUE(v6.bracketed);
  // The last colon splits an unbracketed text; checking the host is the caller's job.
  auto bare = std::get<host_port_text>(split_host_port("::1:80"));
  EXPECT_EQ(bare.host, "::1");
  EXPECT_EQ(std::get<host_port_text>(split_host_port("host:")).port, "");
}

TEST(SplitHostPort, SaysWhatIsWrongWithTheShape) {
  EXPECT_EQ(std::get<host_port_error>(split_host_port("[::1")), host_port_error::unclosed_bracket);
  EXPECT_EQ(std::get<host_port_error>(split_host_port("[::1]80")), host_port_error::missing_port);
  EXPECT_EQ(std::get<host_port_error>(split_host_port("[::1]")), host_port_error::missing_port);
  EXPECT_EQ(std::get<host_port_error>(split_host_port("example.com")),
            host_port_error::missing_port);
}

}  // namespace
}  // namespace ss
