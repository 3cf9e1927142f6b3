// ACL files (libev's format and shadowsocks-rust's name rules): parsing, matching, decisions.
#include "shadowsocks/config/acl.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ss {
namespace {

acl parsed(const std::string& text) {
  auto r = parse_acl(text, "test.acl");
  if (!r) ADD_FAILURE() << r.error().message;
  return r ? std::move(r).value() : acl{};
}

std::string error_of(const std::string& text) {
  auto r = parse_acl(text, "test.acl");
  return r.error().message;
}

target_address at(const char* host_port) {
  return *target_address::parse(host_port);
}

TEST(AclParse, SectionsAndTheListsTheyFill) {
  auto a = parsed(
      "# a comment\n"
      "10.0.0.0/8\n"  // before any list header: the bypass list, as libev
      "\n"
      "[proxy_all]\r\n"
      "[proxy_list]\n"
      "  192.0.2.1  \n"
      "[outbound_block_list]\n"
      "198.51.100.0/24\n"
      "[black_list]\n"
      "203.0.113.7\n");
  EXPECT_EQ(a.mode, acl::fallback::proxy);
  EXPECT_TRUE(a.bypass.matches(at("10.20.30.40:1")));
  EXPECT_TRUE(a.bypass.matches(at("203.0.113.7:1")));
  EXPECT_FALSE(a.bypass.matches(at("203.0.113.8:1")));
  EXPECT_TRUE(a.proxy.matches(at("192.0.2.1:1")));
  EXPECT_TRUE(a.outbound_blocked(at("198.51.100.200:25")));
  EXPECT_FALSE(a.outbound_blocked(at("198.51.101.1:25")));
  EXPECT_EQ(a.bypass.networks(), 2U);
  for (const char* header : {"[bypass_all]", "[reject_all]"}) {
    EXPECT_EQ(parsed(std::string(header) + "\n").mode, acl::fallback::bypass) << header;
  }
  // The last default given counts.
  EXPECT_EQ(parsed("[bypass_all]\n[accept_all]\n").mode, acl::fallback::proxy);
  EXPECT_TRUE(parsed("[white_list]\n1.2.3.4\n").proxy.matches(at("1.2.3.4:9")));
}

TEST(AclParse, NetworksOfBothFamilies) {
  auto a = parsed(
      "0.0.0.0/0\n"
      "[proxy_list]\n"
      "2001:db8::/32\n"
      "::1\n"
      "fe80::/10\n"
      "172.16.0.0/12\n");
  EXPECT_TRUE(a.bypass.matches(at("8.8.8.8:53")));  // /0 takes every IPv4 address
  EXPECT_FALSE(a.bypass.matches(at("[2001:db8::1]:53")));
  EXPECT_TRUE(a.proxy.matches(at("[2001:db8:ffff::1]:1")));
  EXPECT_FALSE(a.proxy.matches(at("[2001:db9::1]:1")));
  EXPECT_TRUE(a.proxy.matches(at("[::1]:1")));
  EXPECT_FALSE(a.proxy.matches(at("[::2]:1")));
  EXPECT_TRUE(a.proxy.matches(at("[fe80::1234]:1")));
  EXPECT_TRUE(a.proxy.matches(at("172.31.255.255:1")));
  EXPECT_FALSE(a.proxy.matches(at("172.32.0.0:1")));
  // An IPv4-mapped IPv6 address is the IPv4 address.
  EXPECT_TRUE(a.proxy.matches(at("[::ffff:172.16.1.1]:1")));
  // A host bit set in the network address does not matter: 10.1.2.3/8 is 10.0.0.0/8.
  EXPECT_TRUE(parsed("10.1.2.3/8\n").bypass.matches(at("10.200.0.1:1")));
}

TEST(AclParse, NameRulesOfShadowsocksRust) {
  auto a = parsed(
      "||example.com\n"
      "|exact.example.org\n"
      "||Mixed.CASE.net.\n");
  const auto& r = a.bypass;
  EXPECT_TRUE(r.matches_name("example.com"));
  EXPECT_TRUE(r.matches_name("www.example.com"));
  EXPECT_TRUE(r.matches_name("a.b.EXAMPLE.com"));
  EXPECT_TRUE(r.matches_name("example.com."));
  EXPECT_FALSE(r.matches_name("badexample.com"));
  EXPECT_FALSE(r.matches_name("example.com.evil"));
  EXPECT_TRUE(r.matches_name("exact.example.org"));
  EXPECT_FALSE(r.matches_name("www.exact.example.org"));
  EXPECT_FALSE(r.matches_name("example.org"));
  EXPECT_TRUE(r.matches_name("mixed.case.net"));
  EXPECT_EQ(r.names(), 3U);
  // Names do not match addresses, nor addresses names.
  EXPECT_FALSE(parsed("||1.2.3.4\n").bypass.matches(at("1.2.3.4:1")));
  EXPECT_FALSE(parsed("1.2.3.4\n").bypass.matches_name("1.2.3.4"));
}

TEST(AclParse, RegularExpressionsAreSearchedWithoutRegardToCase) {
  auto a = parsed(
      "(^|\\.)google\\.com$\n"
      "^ads?\\.\n");
  const auto& r = a.bypass;
  EXPECT_TRUE(r.matches_name("google.com"));
  EXPECT_TRUE(r.matches_name("mail.GOOGLE.com"));
  EXPECT_FALSE(r.matches_name("notgoogle.com"));
  EXPECT_TRUE(r.matches_name("ad.example"));
  EXPECT_TRUE(r.matches_name("ads.example"));
  EXPECT_FALSE(r.matches_name("bad.example"));
  EXPECT_EQ(r.expressions(), 2U);
  EXPECT_FALSE(parsed("[proxy_list]\nx\n").bypass.matches_name("x"));
}

TEST(AclParse, BadLinesNameTheFileAndLine) {
  EXPECT_EQ(error_of("# ok\n[proxy_all]\n[porxy_list]\n").substr(0, 39),
            "test.acl:3: unknown section [porxy_list");
  EXPECT_EQ(error_of("10.0.0.0/33\n"),
            "test.acl:1: \"10.0.0.0/33\": the prefix length must be 0 to 32");
  EXPECT_EQ(error_of("\n::/129\n"), "test.acl:2: \"::/129\": the prefix length must be 0 to 128");
  EXPECT_EQ(error_of("1.2.3.4/x\n"),
            "test.acl:1: \"1.2.3.4/x\": the prefix length must be 0 to 32");
  EXPECT_EQ(error_of("||\n"), "test.acl:1: \"||\" does not name a host");
  EXPECT_EQ(error_of("|a b\n"), "test.acl:1: \"|a b\" does not name a host");
  auto bad_regex = error_of("ok\n(unclosed\n");
  EXPECT_EQ(bad_regex.substr(0, 26), "test.acl:2: \"(unclosed\" is");
  // PCRE's look-arounds and back-references are not RE2's (linear time excludes them).
  EXPECT_NE(error_of("(?=x)y\n"), "");
  EXPECT_NE(error_of("(a)\\1\n"), "");
}

TEST(AclDecide, LocalRoutesByLibevsOrder) {
  auto a = parsed(
      "[proxy_all]\n"
      "[bypass_list]\n"
      "10.0.0.0/8\n"
      "||lan.example\n"
      "[proxy_list]\n"
      "10.1.0.0/16\n"
      "||lan.example\n"
      "||vpn.example\n");
  // The bypass list first, then the proxy list, then the default (libev's acl_match_host).
  EXPECT_EQ(a.route_for(at("10.1.2.3:80")), acl::route::bypass);
  EXPECT_EQ(a.route_for(at("host.lan.example:80")), acl::route::bypass);
  EXPECT_EQ(a.route_for(at("vpn.example:80")), acl::route::proxy);
  EXPECT_EQ(a.route_for(at("8.8.8.8:53")), acl::route::proxy);
  // A name no rule names: its addresses decide, since the bypass list has networks.
  EXPECT_EQ(a.route_for(at("example.net:80")), acl::route::resolve);
  // Without networks in the bypass list, a name is never resolved here: proxied.
  auto names_only = parsed("[bypass_list]\n||lan.example\n");
  EXPECT_EQ(names_only.route_for(at("example.net:80")), acl::route::proxy);

  auto bypass_all = parsed("[bypass_all]\n[proxy_list]\n||blocked.example\n");
  EXPECT_EQ(bypass_all.route_for(at("www.blocked.example:443")), acl::route::proxy);
  EXPECT_EQ(bypass_all.route_for(at("example.net:443")), acl::route::bypass);
  EXPECT_EQ(bypass_all.route_for(at("1.1.1.1:443")), acl::route::bypass);
  auto with_networks = parsed("[bypass_all]\n[proxy_list]\n1.1.1.0/24\n");
  EXPECT_EQ(with_networks.route_for(at("example.net:443")), acl::route::resolve);
  EXPECT_EQ(with_networks.route_for(at("1.1.1.1:443")), acl::route::proxy);
}

TEST(AclDecide, ServerClientsAndTargets) {
  auto accept_all = parsed("[accept_all]\n[black_list]\n192.0.2.0/24\n");
  EXPECT_TRUE(accept_all.client_refused(at("192.0.2.9:1")));
  EXPECT_FALSE(accept_all.client_refused(at("198.51.100.9:1")));
  auto reject_all =
      parsed("[reject_all]\n[white_list]\n198.51.100.0/24\n[black_list]\n198.51.100.66\n");
  EXPECT_FALSE(reject_all.client_refused(at("198.51.100.9:1")));
  EXPECT_TRUE(reject_all.client_refused(at("198.51.100.66:1")));  // both: the black list wins
  EXPECT_TRUE(reject_all.client_refused(at("192.0.2.9:1")));
  auto block = parsed("[outbound_block_list]\n||smtp.example\n(^|\\.)mail\\.\n::1\n");
  EXPECT_TRUE(block.outbound_blocked(at("smtp.example:25")));
  EXPECT_TRUE(block.outbound_blocked(at("mail.example.org:25")));
  EXPECT_TRUE(block.outbound_blocked(at("[::1]:25")));
  EXPECT_FALSE(block.outbound_blocked(at("www.example.org:80")));
}

}  // namespace
}  // namespace ss
