#include "shadowsocks/codec/sip002.hpp"

#include <gtest/gtest.h>

namespace ss {
namespace {

server_url parsed(std::string_view url) {
  auto r = parse_server_url(url);
  if (!r) {
    ADD_FAILURE() << url << ": " << r.error().part << " " << r.error().problem;
    return {};
  }
  return *r;
}

std::string failing_part(std::string_view url) {
  auto r = parse_server_url(url);
  return r ? "(parsed)" : r.error().part;
}

// The examples of shadowsocks-org's sip002.md, as written there.
TEST(Sip002, DocumentExampleBase64Userinfo) {
  auto u = parsed("ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888#Example1");
  EXPECT_EQ(u.method, "aes-128-gcm");
  EXPECT_EQ(u.password, "test");
  EXPECT_EQ(u.host, "192.168.100.1");
  EXPECT_EQ(u.port, 8888);
  EXPECT_EQ(u.plugin, "");
  EXPECT_EQ(u.tag, "Example1");
  EXPECT_EQ(format_server_url(u), "ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888#Example1");
}

TEST(Sip002, DocumentExampleWithPlugin) {
  const char* url =
      "ss://cmM0LW1kNTpwYXNzd2Q@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp#Example2";
  auto u = parsed(url);
  EXPECT_EQ(u.method, "rc4-md5");
  EXPECT_EQ(u.password, "passwd");
  EXPECT_EQ(u.plugin, "obfs-local;obfs=http");
  EXPECT_EQ(u.tag, "Example2");
  EXPECT_EQ(format_server_url(u), url);
}

TEST(Sip002, DocumentExamplePlainUserinfo) {
  auto u = parsed(
      "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D@"
      "192.168.100.1:8888#Example3");
  EXPECT_EQ(u.method, "2022-blake3-aes-256-gcm");
  EXPECT_EQ(u.password, "YctPZ6U7xPPcU+gp3u+0tx/tRizJN9K8y+uKlW2qjlI=");
  EXPECT_EQ(u.port, 8888);
  EXPECT_EQ(u.tag, "Example3");
  auto p = parsed(
      "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D@"
      "192.168.100.1:8888/?plugin=v2ray-plugin%3Bserver#Example3");
  EXPECT_EQ(p.plugin, "v2ray-plugin;server");
  // SIP002: the 2022 methods are written back in this form, never base64.
  EXPECT_EQ(format_server_url(u),
            "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D@"
            "192.168.100.1:8888#Example3");
  EXPECT_EQ(format_server_url(p),
            "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI%3D@"
            "192.168.100.1:8888/?plugin=v2ray-plugin%3Bserver#Example3");
  // A multi-user client's iPSK:uPSK keeps its colon (as %3A).
  server_url multi{"2022-blake3-aes-128-gcm",
                   "AAECAwQFBgcICQoLDA0ODw==:AAECAwQFBgcICQoLDA0ODw==",
                   "h",
                   1,
                   "",
                   "",
                   ""};
  auto text = format_server_url(multi);
  EXPECT_EQ(
      text,
      "ss://2022-blake3-aes-128-gcm:AAECAwQFBgcICQoLDA0ODw%3D%3D%3AAAECAwQFBgcICQoLDA0ODw%3D%3D"
      "@h:1");
  EXPECT_EQ(parsed(text).password, multi.password);
}

TEST(Sip002, DocumentExampleIgnoresUnknownParameters) {
  auto u = parsed(
      "ss://YmYtY2ZiOnRlc3Q@192.168.100.1:8888/"
      "?plugin=url-encoded-plugin-argument-value&unsupported-arguments=should-be-ignored"
      "#Dummy+profile+name");
  EXPECT_EQ(u.method, "bf-cfb");
  EXPECT_EQ(u.password, "test");
  EXPECT_EQ(u.plugin, "url-encoded-plugin-argument-value");
  EXPECT_EQ(u.tag, "Dummy+profile+name");  // RFC 3986 decoding: '+' is not a space here
}

// Outline's access keys: the prefix's bytes as the characters U+0000..U+00FF, UTF-8 and
// %-encoded (Outline's documentation's TLS ClientHello prefix, 0xA8 written %C2%A8).
TEST(Sip002, OutlinePrefixParameter) {
  const char* url =
      "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@198.51.100.1:443/"
      "?outline=1&prefix=%16%03%01%00%C2%A8%01%01";
  auto u = parsed(url);
  EXPECT_EQ(u.method, "chacha20-ietf-poly1305");
  EXPECT_EQ(u.prefix, std::string("\x16\x03\x01\x00\xa8\x01\x01", 7));
  EXPECT_EQ(format_server_url(u),
            "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@198.51.100.1:443/"
            "?prefix=%16%03%01%00%C2%A8%01%01");
  // With a plugin, and printable bytes ("POST ").
  u = parsed("ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@h:1/?plugin=p%3Bo%3D1&prefix=POST%20");
  EXPECT_EQ(u.plugin, "p;o=1");
  EXPECT_EQ(u.prefix, "POST ");
  EXPECT_EQ(format_server_url(u),
            "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@h:1/?plugin=p%3Bo%3D1&prefix=POST%20");
  // A raw byte above 0x7F is not UTF-8, and U+0100 is not a byte.
  EXPECT_EQ(failing_part("ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@h:1/?prefix=%A8"), "query");
  EXPECT_EQ(failing_part("ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@h:1/?prefix=%C4%80"),
            "query");
}

// Outline's documented JSON form of a DNS-query prefix, "\u0097\u00a7\u0001\u0000...".
TEST(Sip002, PrefixCharactersAreBytes) {
  const std::string bytes("\x97\xa7\x01\x00\x00\x01", 6);
  const std::string text =
      "\xc2\x97\xc2\xa7\x01" + std::string(1, '\0') + std::string(1, '\0') + "\x01";
  EXPECT_EQ(bytes_as_characters(bytes), text);
  EXPECT_EQ(characters_as_bytes(text), bytes);
  std::string all;
  for (int b = 0; b < 256; ++b)
    all += static_cast<char>(b);
  EXPECT_EQ(characters_as_bytes(bytes_as_characters(all)), all);
  EXPECT_FALSE(characters_as_bytes("\xc4\x80"));      // U+0100
  EXPECT_FALSE(characters_as_bytes("\xc2"));          // cut short
  EXPECT_FALSE(characters_as_bytes("\xe2\x82\xac"));  // U+20AC
}

TEST(Sip002, PaddedStandardBase64AndUpperCaseSchemeAreRead) {
  // "chacha20-ietf-poly1305:x~y>z" in standard base64 ('+'), with padding.
  auto u = parsed("SS://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTp4fnk+eg==@example.com:443");
  EXPECT_EQ(u.method, "chacha20-ietf-poly1305");
  EXPECT_EQ(u.password, "x~y>z");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 443);
}

TEST(Sip002, RoundTripsAwkwardPasswordsAndHosts) {
  for (std::string password : {"p@ss:word/?#%", "密码 with spaces", "", "+/=-_~"}) {
    for (std::string host : {"127.0.0.1", "::1", "2001:db8::5", "vps.example.org"}) {
      server_url u{"aes-256-gcm", password, host, 8388, "", "my server #1", ""};
      auto text = format_server_url(u);
      auto back = parsed(text);
      EXPECT_EQ(back.method, u.method) << text;
      EXPECT_EQ(back.password, u.password) << text;
      EXPECT_EQ(back.host, u.host) << text;
      EXPECT_EQ(back.port, u.port) << text;
      EXPECT_EQ(back.tag, u.tag) << text;
      EXPECT_EQ(text.find(' '), std::string::npos) << text;
      EXPECT_EQ(text.find('='), std::string::npos) << text;  // base64url without padding
    }
  }
}

TEST(Sip002, Ipv6HostIsBracketed) {
  server_url u{"aes-128-gcm", "pw", "::1", 8388, "", "", ""};
  EXPECT_EQ(format_server_url(u), "ss://YWVzLTEyOC1nY206cHc@[::1]:8388");
  EXPECT_EQ(parsed("ss://YWVzLTEyOC1nY206cHc@[::1]:8388/").host, "::1");
}

TEST(Sip002, MalformedUrlsNameThePart) {
  EXPECT_EQ(failing_part(""), "scheme");
  EXPECT_EQ(failing_part("http://YWVzLTEyOC1nY206dGVzdA@h:1"), "scheme");
  EXPECT_EQ(failing_part("ss:/YWVzLTEyOC1nY206dGVzdA@h:1"), "scheme");
  EXPECT_EQ(failing_part("ss://h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://@h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://$$$@h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://YWVzLTEyOC1nY20@h:1"), "userinfo");  // "aes-128-gcm", no ':'
  EXPECT_EQ(failing_part("ss://:pw@h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:p%4@h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:p%zz@h:1"), "userinfo");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@:1"), "host");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@[::1:1"), "host");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:1/path"), "host");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@[example.com]:1"), "host");  // brackets: IPv6
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@ex%20ample.com:1"), "host");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@a:b:1"), "host");  // IPv6 unbracketed
  EXPECT_EQ(failing_part("ss://aes%3A128:pw@h:1"), "userinfo");  // ':' in a method name
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@[::1]"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:0"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:65536"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:80x"), "port");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:1/?plugin"), "query");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:1/?plugin=%g0"), "query");
  EXPECT_EQ(failing_part("ss://aes-128-gcm:pw@h:1#%"), "tag");
}

TEST(Sip002, PercentCodec) {
  EXPECT_EQ(percent_encode("a b/ü~"), "a%20b%2F%C3%BC~");
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b%2f%C3%BC~", out));
  EXPECT_EQ(out, "a b/ü~");
  EXPECT_FALSE(percent_decode("%", out));
  EXPECT_FALSE(percent_decode("%4", out));
  EXPECT_FALSE(percent_decode("%4g", out));
}

}  // namespace
}  // namespace ss
