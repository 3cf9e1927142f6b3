#include "shadowsocks/codec/ip_policy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace ss {
namespace {

const char* reason(const std::string& text) {
  std::array<std::uint8_t, 4> v4{};
  if (::inet_pton(AF_INET, text.c_str(), v4.data()) == 1) return non_public_reason(v4);
  std::array<std::uint8_t, 16> v6{};
  EXPECT_EQ(::inet_pton(AF_INET6, text.c_str(), v6.data()), 1) << text;
  return non_public_reason(v6);
}

TEST(IpPolicy, RefusesEveryNonPublicRange) {
  for (auto a : {"127.0.0.1",
                 "127.255.255.254",
                 "10.1.2.3",
                 "172.16.0.1",
                 "172.31.255.255",
                 "192.168.0.1",
                 "169.254.169.254",
                 "100.64.0.1",
                 "100.127.255.255",
                 "224.0.0.1",
                 "239.255.255.250",
                 "255.255.255.255",
                 "0.0.0.0",
                 "0.1.2.3",
                 "240.0.0.1",
                 "::1",
                 "::",
                 "::ffff:127.0.0.1",
                 "::ffff:10.0.0.1",
                 "::ffff:169.254.169.254",
                 "::127.0.0.1",
                 "64:ff9b::10.0.0.1",
                 "64:ff9b::7f00:1",
                 "2002:7f00:1::1",
                 "2002:a00:1::",
                 "fc00::1",
                 "fd12:3456::1",
                 "fe80::1",
                 "febf::1",
                 "fec0::1",
                 "ff02::1",
                 "ff0e::1"}) {
    EXPECT_NE(reason(a), nullptr) << a << " must be refused";
  }
}

TEST(IpPolicy, AllowsPublicAddresses) {
  for (auto a : {"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1",
                 "192.169.0.1", "100.63.255.255", "100.128.0.1", "169.253.0.1", "223.255.255.255",
                 "2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8",
                 "64:ff9b::808:808", "2002:808:808::1", "fbff::1", "fe7f::1"}) {
    EXPECT_EQ(reason(a), nullptr) << a << " must be allowed";
  }
}

TEST(IpPolicy, NamesTheReason) {
  EXPECT_STREQ(reason("127.0.0.1"), "loopback");
  EXPECT_STREQ(reason("10.1.2.3"), "private (RFC 1918)");
  EXPECT_STREQ(reason("169.254.169.254"), "link-local");
  EXPECT_STREQ(reason("::ffff:127.0.0.1"), "IPv4-mapped form of a non-public address");
}

}  // namespace
}  // namespace ss
