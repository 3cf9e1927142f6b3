// A client's several servers: libev's "server" list, shadowsocks-rust's `servers` with
// weights, `balancer`, `online_config`, and SIP008 documents.
#include <gtest/gtest.h>

#include "shadowsocks/config/config.hpp"
#include "validated.hpp"

namespace ss {
namespace {

using test::first_error;
using test::outcome;

outcome client_from(const std::string& json, program prog = program::local) {
  return test::validated(json, prog);
}

constexpr const char* pw = "a long enough password";

TEST(Upstreams, EachHostOfLibevsServerListIsAServer) {
  auto o = client_from(R"({"server": ["192.0.2.1", "192.0.2.2"], "server_port": 8388,
                           "password": "a long enough password", "method": "aes-128-gcm"})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);
  EXPECT_EQ(o.cfg->servers[0].server_hosts, std::vector<std::string>{"192.0.2.1"});
  EXPECT_EQ(o.cfg->servers[1].server_hosts, std::vector<std::string>{"192.0.2.2"});
  for (const auto& s : o.cfg->servers) {
    EXPECT_EQ(s.server_port, 8388);
    EXPECT_EQ(s.key->cipher().name, "aes-128-gcm");
  }
}

TEST(Upstreams, ServersEntriesHaveTheirOwnKeysAndWeights) {
  auto o = client_from(std::string(R"({"local_port": 1080, "method": "aes-256-gcm", "servers": [
      {"server": "192.0.2.1", "server_port": 8381, "password": ")") +
                       pw + R"(", "weight": 3},
      {"server": "192.0.2.2", "server_port": 8382, "password": ")" +
                       pw +
                       R"(", "method": "chacha20-ietf-poly1305", "tcp_weight": 0.5,
       "udp_weight": 2, "remarks": "tokyo"},
      {"server": "192.0.2.3", "server_port": 8383, "password": ")" +
                       pw + R"(", "disabled": true}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);  // the disabled one is left out
  const auto& a = o.cfg->servers[0];
  const auto& b = o.cfg->servers[1];
  EXPECT_EQ(a.key->cipher().name, "aes-256-gcm");  // the top level's method
  EXPECT_EQ(a.tcp_weight, 3);
  EXPECT_EQ(a.udp_weight, 3);
  EXPECT_EQ(b.key->cipher().name, "chacha20-ietf-poly1305");
  EXPECT_EQ(b.tcp_weight, 0.5);
  EXPECT_EQ(b.udp_weight, 2);
  EXPECT_EQ(b.name, "tokyo");
  EXPECT_EQ(b.server_port, 8382);
}

TEST(Upstreams, AnEntryThatCannotBeUsedIsNamed) {
  auto o = client_from(R"({"servers": [{"server": "192.0.2.1", "server_port": 8381,
                                        "password": "a long enough password", "weight": 0}]})");
  EXPECT_EQ(first_error(o).rfind("servers[0].weight: must be a number above 0", 0), 0u)
      << first_error(o);
  o = client_from(
      R"({"servers": [{"server": "192.0.2.1", "password": "a long enough password"}]})");
  EXPECT_EQ(first_error(o), "servers[0].server_port: is required (-p)");
  o = client_from(R"({"servers": [{"server": "192.0.2.1", "server_port": 1, "password": "x",
                                   "method": "rot13"}]})");
  EXPECT_EQ(first_error(o).rfind("servers[0].method:", 0), 0u) << first_error(o);
  o = client_from(R"({"servers": [{"server": "192.0.2.1", "server_port": 1, "password": "x",
                                   "local_port": 5}]})");
  EXPECT_EQ(first_error(o),
            "servers[0].local_port: applies to the whole process; set it at the top level");
}

TEST(Upstreams, NoServerAtAllIsAnError) {
  auto o = client_from(R"({"servers": []})");
  EXPECT_EQ(first_error(o).rfind("servers: names no server", 0), 0u) << first_error(o);
  o = client_from(R"({"local_port": 1080})");
  EXPECT_EQ(first_error(o).rfind("server: is required", 0), 0u) << first_error(o);
}

TEST(Upstreams, TheTopLevelServerComesFirst) {
  auto o =
      client_from(std::string(R"({"server": "192.0.2.9", "server_port": 8388, "password": ")") +
                  pw + R"(", "servers": [{"server": "192.0.2.1", "server_port": 8381,
                       "password": ")" +
                  pw + R"("}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);
  EXPECT_EQ(o.cfg->servers[0].server_hosts[0], "192.0.2.9");
  EXPECT_EQ(o.cfg->servers[1].server_hosts[0], "192.0.2.1");
}

TEST(Balancer, SettingsAreReadAndCheckedByName) {
  auto o =
      client_from(std::string(R"({"server": "192.0.2.9", "server_port": 8388, "password": ")") +
                  pw + R"(", "balancer": {"check_interval": 2, "max_server_rtt": 0.5,
                       "check_url": "http://[::1]:8080/ok?x=1"}})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  EXPECT_EQ(o.cfg->balancer.check_interval, std::chrono::seconds(2));
  EXPECT_EQ(o.cfg->balancer.max_server_rtt, std::chrono::milliseconds(500));
  EXPECT_EQ(o.cfg->balancer.check_host, "::1");
  EXPECT_EQ(o.cfg->balancer.check_port, 8080);
  EXPECT_EQ(o.cfg->balancer.check_path, "/ok?x=1");
  o = client_from(std::string(R"({"server": "192.0.2.9", "server_port": 8388, "password": ")") +
                  pw + R"(", "balancer": {"check_url": "https://example.com/"}})");
  EXPECT_EQ(first_error(o).rfind("balancer.check_url: must be an http:// URL", 0), 0u)
      << first_error(o);
  o = client_from(std::string(R"({"server": "192.0.2.9", "server_port": 8388, "password": ")") +
                  pw + R"(", "balancer": {"check_interval": 0}})");
  EXPECT_EQ(first_error(o).rfind("balancer.check_interval: must be from 1", 0), 0u)
      << first_error(o);
  // Defaults.
  o = client_from(std::string(R"({"server": "192.0.2.9", "server_port": 8388, "password": ")") +
                  pw + R"("})");
  ASSERT_TRUE(o.cfg);
  EXPECT_EQ(o.cfg->balancer.check_host, "www.gstatic.com");
  EXPECT_EQ(o.cfg->balancer.check_port, 80);
  EXPECT_EQ(o.cfg->balancer.check_path, "/generate_204");
}

TEST(OnlineConfig, AnHttpsUrlStandsForTheServers) {
  auto o = client_from(R"({"online_config": {"config_url": "https://example.com/list.json",
                                             "update_interval": 60,
                                             "allowed_plugins": ["v2ray-plugin"]}})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_TRUE(o.cfg->online);
  EXPECT_TRUE(o.cfg->servers.empty());
  EXPECT_EQ(o.cfg->online->config_url, "https://example.com/list.json");
  EXPECT_EQ(o.cfg->online->update_interval, std::chrono::seconds(60));
  EXPECT_EQ(o.cfg->online->allowed_plugins, std::vector<std::string>{"v2ray-plugin"});
  o = client_from(R"({"online_config": {"config_url": "http://example.com/list.json"}})");
  EXPECT_EQ(first_error(o).rfind("online_config.config_url: must be an https:// URL", 0), 0u)
      << first_error(o);
  o = client_from(R"({"online_config": {"update_interval": 60}})");
  EXPECT_EQ(first_error(o).rfind("online_config.config_url: is required", 0), 0u) << first_error(o);
}

config online_client(const std::vector<std::string>& allowed = {}) {
  auto o = client_from(R"({"online_config": {"config_url": "https://example.com/x"}})");
  auto c = *o.cfg;
  c.online->allowed_plugins = allowed;
  return c;
}

TEST(Sip008, TheDocumentsServersAreRead) {
  auto doc = R"({"version": 1, "servers": [
      {"id": "27b8a625-4f4b-4428-9f0f-8a2317db7c79", "remarks": "Name of the server",
       "server": "198.51.100.1", "server_port": 8388, "password": "a long enough password",
       "method": "chacha20-ietf-poly1305"},
      {"id": "7842c068-c667-41f2-8f7d-04feece3cb67", "remarks": "Another",
       "server": "198.51.100.2", "server_port": 8389, "password": "a long enough password",
       "method": "aes-256-gcm", "plugin": "", "plugin_opts": ""}],
    "bytes_used": 274877906944, "bytes_remaining": 824633720832})";
  auto r = read_sip008(doc, online_client());
  ASSERT_TRUE(r) << r.error().message;
  const auto* got = &*r;
  ASSERT_EQ(got->servers.size(), 2u);
  EXPECT_EQ(got->servers[0].name, "Name of the server");
  EXPECT_EQ(got->servers[0].server_hosts, std::vector<std::string>{"198.51.100.1"});
  EXPECT_EQ(got->servers[1].key->cipher().name, "aes-256-gcm");
  EXPECT_EQ(got->servers[1].server_port, 8389);
  EXPECT_TRUE(got->left_out.empty());
}

// Outline's prefix: JSON's characters U+0000..U+00FF are its bytes; a `servers` entry and a
// SIP008 entry have their own; the salt keeps 12 random bytes.
TEST(Prefix, JsonCharactersAreTheBytesAndEachServerHasItsOwn) {
  auto o = client_from(std::string(R"({"method": "chacha20-ietf-poly1305", "servers": [
      {"server": "192.0.2.1", "server_port": 8381, "password": ")") +
                       pw +
                       R"(", "prefix": "\u0016\u0003\u0001\u0000\u00a8\u0001\u0001"},
      {"server": "192.0.2.2", "server_port": 8382, "password": ")" +
                       pw + R"("}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);
  EXPECT_EQ(o.cfg->servers[0].prefix, std::string("\x16\x03\x01\x00\xa8\x01\x01", 7));
  EXPECT_EQ(o.cfg->servers[1].prefix, "");
}

TEST(Prefix, ASaltKeepsTwelveRandomBytes) {
  auto with = [](const char* method, const char* prefix) {
    return client_from(std::string(R"({"server": "192.0.2.1", "server_port": 8388, "method": ")") +
                       method + R"(", "password": "a long enough password", "prefix": ")" + prefix +
                       R"("})");
  };
  EXPECT_TRUE(with("aes-128-gcm", "POST").cfg);
  EXPECT_EQ(first_error(with("aes-128-gcm", "POST ")),
            "prefix: is 5 bytes, and aes-128-gcm takes at most 4 (its salt is 16 bytes, 12 of "
            "them must stay random)");
  EXPECT_TRUE(with("aes-256-gcm", "01234567890123456789").cfg);
  EXPECT_EQ(
      first_error(with("aes-256-gcm", "012345678901234567890")).rfind("prefix: is 21 bytes", 0),
      0u);
  EXPECT_EQ(first_error(with("aes-256-gcm", "\u20ac")).rfind("prefix: must be bytes written as", 0),
            0u);
}

TEST(Prefix, TheFlagIsPercentEncodedAndTheUrlParameterSetsIt) {
  raw_config raw;
  raw["server_url"].set(std::string("ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQgcGFzc3dvcmQ@"
                                    "198.51.100.1:443/?outline=1&prefix=%16%03%01%00%C2%A8%01%01"),
                        "--server-url");
  auto c = validate(raw, program::local, 1, nullptr);
  ASSERT_TRUE(c) << c.error().front().to_string();
  EXPECT_EQ(c->servers.at(0).prefix, std::string("\x16\x03\x01\x00\xa8\x01\x01", 7));
  raw_config flags;
  flags["server"].set(std::vector<std::string>{"192.0.2.1"}, "-s");
  flags["server_port"].set(std::int64_t{8388}, "-p");
  flags["password"].set(std::string(pw), "-k");
  flags["prefix"].set(std::string("%16%03%01%00"), "--prefix");
  c = validate(flags, program::local, 1, nullptr);
  ASSERT_TRUE(c) << c.error().front().to_string();
  EXPECT_EQ(c->servers.at(0).prefix, std::string("\x16\x03\x01\x00", 4));
  flags["prefix"].set(std::string("%1"), "--prefix");
  c = validate(flags, program::local, 1, nullptr);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().front().to_string(), "--prefix: has a malformed %-escape");
}

TEST(Sip008, AnEntrysPrefixIsRead) {
  auto r = read_sip008(R"({"version": 1, "servers": [{"server": "198.51.100.1",
      "server_port": 8388, "password": "a long enough password",
      "method": "chacha20-ietf-poly1305", "prefix": "POST "}]})",
                       online_client());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->servers.size(), 1u);
  EXPECT_EQ(r->servers[0].prefix, "POST ");
}

// Outline's dynamic access keys serve one server's details, as a JSON object or an ss:// URL.
TEST(DynamicKey, BothShapesOutlineServesAreOneServer) {
  auto r = read_sip008(R"({"server": "198.51.100.7", "server_port": 443,
      "password": "a long enough password", "method": "chacha20-ietf-poly1305",
      "prefix": "\u0016\u0003\u0001\u0000\u00a8\u0001\u0001"})",
                       online_client());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->servers.size(), 1u);
  EXPECT_EQ(r->servers[0].server_hosts, std::vector<std::string>{"198.51.100.7"});
  EXPECT_EQ(r->servers[0].server_port, 443);
  EXPECT_EQ(r->servers[0].prefix, std::string("\x16\x03\x01\x00\xa8\x01\x01", 7));
  r = read_sip008(
      "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTphIGxvbmcgZW5vdWdoIHBhc3N3b3Jk@198.51.100.8:8443/"
      "?outline=1&prefix=POST%20#Tokyo\n",
      online_client());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->servers.size(), 1u);
  EXPECT_EQ(r->servers[0].server_port, 8443);
  EXPECT_EQ(r->servers[0].prefix, "POST ");
  EXPECT_EQ(r->servers[0].name, "Tokyo");
  EXPECT_EQ(r->servers[0].key->cipher().name, "chacha20-ietf-poly1305");
  // Neither shape: the reason.
  r = read_sip008("ss://bad", online_client());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("an ss:// URL whose", 0), 0u) << r.error().message;
}

TEST(DynamicKey, AnSsconfUrlIsAnOnlineConfig) {
  for (const char* given : {"ssconf://keys.example.com/abc/def#My%20key",
                            "https://keys.example.com/abc/def#My%20key"}) {
    raw_config raw;
    raw["server_url"].set(std::string(given), "--server-url");
    raw["local_port"].set(std::int64_t{1080}, "-l");
    auto c = validate(raw, program::local, 1, nullptr);
    ASSERT_TRUE(c) << c.error().front().to_string();
    ASSERT_TRUE(c->online);
    EXPECT_EQ(c->online->config_url, "https://keys.example.com/abc/def");
    EXPECT_TRUE(c->servers.empty());
  }
}

TEST(Sip008, APluginNotAllowedLeavesItsServerOut) {
  auto doc = R"({"version": 1, "servers": [
      {"server": "198.51.100.1", "server_port": 8388, "password": "a long enough password",
       "method": "aes-256-gcm", "plugin": "sh", "plugin_opts": "-c id"},
      {"server": "198.51.100.2", "server_port": 8388, "password": "a long enough password",
       "method": "aes-256-gcm"}]})";
  auto r = read_sip008(doc, online_client());
  ASSERT_TRUE(r) << r.error().message;
  const auto* got = &*r;
  ASSERT_EQ(got->servers.size(), 1u);
  EXPECT_EQ(got->servers[0].server_hosts[0], "198.51.100.2");
  ASSERT_EQ(got->left_out.size(), 1u);
  EXPECT_EQ(got->left_out[0],
            "servers[0]: its plugin \"sh\" is not in online_config.allowed_plugins");
  // Allowed, it is taken (sh is on every PATH).
  r = read_sip008(doc, online_client({"sh"}));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->servers.size(), 2u);
  EXPECT_EQ(r->servers[0].plugin_opts, "-c id");
}

TEST(Sip008, AMalformedDocumentIsRefusedWithTheReason) {
  auto c = online_client();
  auto reason = [&](std::string_view doc) {
    auto r = read_sip008(doc, c);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_EQ(reason("<html>").rfind("not JSON", 0), 0u);
  EXPECT_EQ(reason("[]"), "not a SIP008 document (a JSON object)");
  EXPECT_EQ(reason(R"({"servers": []})"), "not a SIP008 document of version 1 (\"version\": 1)");
  EXPECT_EQ(reason(R"({"version": 1})"), "has no \"servers\" list");
  EXPECT_EQ(reason(R"({"version": 1, "servers": []})"), "names no server we can use");
  EXPECT_EQ(reason(R"({"version": 1, "servers": [{"server": "x", "server_port": 1,
                       "password": "p", "method": "rot13"}]})")
                .rfind("names no server we can use (servers[0].method:", 0),
            0u);
  EXPECT_EQ(reason(R"({"version": 1, "servers": [{"server": "x", "server_port": 1}]})"),
            "names no server we can use (servers[0]: has no password, method)");
}

}  // namespace
}  // namespace ss
