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
  auto plain = *split_host_port("example.com:443");
  EXPECT_EQ(plain.host, "example.com");
  EXPECT_EQ(plain.port, "443");
  EXPECT_FALSE(plain.bracketed);
  auto v6 = *split_host_port("[::1]:80");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, "80");
  EXPECT_TRUE(v6.bracketed);
  // The last colon splits an unbracketed text; checking the host is the caller's job.
  auto bare = *split_host_port("::1:80");
  EXPECT_EQ(bare.host, "::1");
  EXPECT_EQ(split_host_port("host:")->port, "");
}

TEST(SplitHostPort, SaysWhatIsWrongWithTheShape) {
  EXPECT_EQ(split_host_port("[::1").error(), host_port_error::unclosed_bracket);
  EXPECT_EQ(split_host_port("[::1]80").error(), host_port_error::missing_port);
  EXPECT_EQ(split_host_port("[::1]").error(), host_port_error::missing_port);
  EXPECT_EQ(split_host_port("example.com").error(), host_port_error::missing_port);
}

TEST(SplitUrl, TakesTheAuthorityAndTheTargetApart) {
  auto u = split_url("HTTP://example.com:8080/a/b?x=1#frag", "http://");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->authority, "example.com:8080");
  EXPECT_EQ(u->target, "/a/b?x=1");
  u = split_url("https://[::1]", "https://");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->authority, "[::1]");
  EXPECT_EQ(u->target, "/");
  u = split_url("http://host?q", "http://");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q");
  EXPECT_FALSE(split_url("https://host/", "http://"));
  EXPECT_FALSE(split_url("http:/", "http://"));
  EXPECT_FALSE(split_url("http://host/a b", "http://"));
  EXPECT_FALSE(split_url("http://host/a\r\nX: y", "http://"));
}

TEST(Fnv1a64, MatchesThePublishedVectors) {
  // From the FNV reference (Fowler, Noll, Vo): FNV-1a 64-bit of "", "a" and "foobar".
  EXPECT_EQ(fnv1a_64(std::string_view("")), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a_64(std::string_view("a")), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a_64(std::string_view("foobar")), 0x85944171f73967e8ULL);
}

TEST(EqualsIgnoringCase, OnlyAsciiLettersFold) {
  EXPECT_TRUE(equals_ignoring_case("Basic", "bASIC"));
  EXPECT_FALSE(equals_ignoring_case("Basic", "Basi"));
  EXPECT_FALSE(equals_ignoring_case("[", "{"));  // 0x5B and 0x7B differ by the case bit
}

TEST(StartsWithIgnoringCase, APrefixInAnyCase) {
  EXPECT_TRUE(starts_with_ignoring_case("HTTPS://example.com/", "https://"));
  EXPECT_TRUE(starts_with_ignoring_case("ss://", "SS://"));
  EXPECT_FALSE(starts_with_ignoring_case("ss:/", "ss://"));  // shorter than the prefix
  EXPECT_FALSE(starts_with_ignoring_case("http://x", "https://"));
}

}  // namespace
}  // namespace ss
