// ss-server's many servers in one process: libev's port_password and shadowsocks-rust's
// servers list, each validated as a configuration of its own over the top-level keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "shadowsocks/config/config.hpp"
#include "validated.hpp"

namespace ss {
namespace {

using test::first_error;
using test::outcome;

outcome server_from(const std::string& json) {
  return test::validated(json, program::server);
}

TEST(Servers, ASingleServerIsItsOwnOnlyServer) {
  auto o = server_from(R"({"server_port": 8388, "password": "a long enough password"})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 1u);
  EXPECT_EQ(o.cfg->servers[0].server_port, 8388);
  EXPECT_EQ(o.cfg->servers[0].name, "");
}

TEST(Servers, PortPasswordGivesOneServerPerPortWithTheTopLevelsOtherKeys) {
  auto o = server_from(R"({"server": "127.0.0.1", "method": "aes-128-gcm", "timeout": 42,
                           "mode": "tcp_and_udp",
                           "port_password": {"8381": "first password", "8382": "second one!"}})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);  // no top-level server: it names no port
  for (const auto& s : o.cfg->servers) {
    EXPECT_EQ(s.key->cipher().name, "aes-128-gcm");
    EXPECT_EQ(s.timeout, std::chrono::seconds(42));
    EXPECT_EQ(s.mode, relay_mode::tcp_and_udp);
    EXPECT_EQ(s.server_hosts, std::vector<std::string>{"127.0.0.1"});
  }
  EXPECT_EQ(o.cfg->servers[0].server_port, 8381);
  EXPECT_EQ(o.cfg->servers[0].name, "8381");
  EXPECT_EQ(o.cfg->servers[0].password, "first password");
  EXPECT_EQ(o.cfg->servers[1].password, "second one!");
  EXPECT_FALSE(std::ranges::equal(o.cfg->servers[0].key->bytes(), o.cfg->servers[1].key->bytes()));
}

TEST(Servers, EntriesOfTheListSetTheirOwnMethodAndName) {
  auto o = server_from(R"({"server_port": 8380, "password": "the top-level one",
    "servers": [
      {"server_port": 8381, "method": "chacha20-ietf-poly1305", "password": "alice's password",
       "name": "alice"},
      {"server_port": 8382, "method": "2022-blake3-aes-128-gcm",
       "password": "AAAAAAAAAAAAAAAAAAAAAA==", "timeout": 7},
    ]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 3u);
  EXPECT_EQ(o.cfg->servers[0].server_port, 8380);  // the top level's own comes first
  EXPECT_EQ(o.cfg->servers[1].name, "alice");
  EXPECT_EQ(o.cfg->servers[1].key->cipher().name, "chacha20-ietf-poly1305");
  EXPECT_EQ(o.cfg->servers[2].name, "servers[1]");
  EXPECT_EQ(o.cfg->servers[2].key->cipher().name, "2022-blake3-aes-128-gcm");
  EXPECT_EQ(o.cfg->servers[2].timeout, std::chrono::seconds(7));
  EXPECT_EQ(o.cfg->servers[1].timeout, std::chrono::seconds(60));
}

TEST(Servers, APortRunsWithTheProcesssKeysAndItsOwnServer) {
  auto o = server_from(R"({"server": "127.0.0.1", "method": "aes-128-gcm", "workers": 3,
                           "max_connections": 77, "no_delay": true,
                           "servers": [{"server_port": 8381, "password": "alice's password",
                                        "name": "alice", "timeout": 9}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 1u);
  auto port = serving(*o.cfg, o.cfg->servers[0]);
  EXPECT_EQ(port.workers, 3u);
  EXPECT_EQ(port.max_connections, 77u);
  EXPECT_TRUE(port.no_delay);
  EXPECT_EQ(port.server_port, 8381);
  EXPECT_EQ(port.name, "alice");
  EXPECT_EQ(port.timeout, std::chrono::seconds(9));
  EXPECT_EQ(port.password, "alice's password");
  EXPECT_EQ(port.key, o.cfg->servers[0].key);
  EXPECT_TRUE(port.servers.empty());
}

TEST(Servers, AProblemNamesTheEntryAndTheKey) {
  auto bad_password = server_from(R"({"servers": [{"server_port": 8381, "password": ""}]})");
  EXPECT_EQ(first_error(bad_password), "servers[0].password: is empty");
  auto missing = server_from(R"({"servers": [{"server_port": 8381}]})");
  ASSERT_FALSE(missing.errors.empty());
  EXPECT_EQ(missing.errors[0].key, "servers[0].password");
  auto bad_port = server_from(R"({"port_password": {"80a": "some password here"}})");
  EXPECT_EQ(first_error(bad_port), "port_password[\"80a\"]: must be a port number from 1 to 65535");
  auto process_wide = server_from(
      R"({"servers": [{"server_port": 8381, "password": "pw pw pw pw pw pw", "workers": 3}]})");
  EXPECT_EQ(first_error(process_wide),
            "servers[0].workers: applies to the whole process; set it at the top level");
  auto bad_name = server_from(R"({"servers": [{"server_port": 1, "password": "p", "name": 5}]})");
  EXPECT_EQ(first_error(bad_name), "servers[0].name: must be a non-empty string");
}

TEST(Servers, ServersOfTheSamePortAre2017KeysOfOneServer) {
  auto o = server_from(R"({"server_port": 8381, "password": "the top-level one",
    "servers": [
      {"server_port": 8381, "password": "alice's password", "name": "alice"},
      {"server_port": 8381, "password": "bob's password", "method": "aes-128-gcm", "name": "bob"},
      {"server_port": 8382, "password": "carol's password", "name": "carol"}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.cfg->servers.size(), 2u);
  const auto& shared = o.cfg->servers[0];
  ASSERT_TRUE(shared.keys);
  ASSERT_EQ(shared.keys->size(), 3u);
  EXPECT_EQ((*shared.keys)[0].name, "8381");  // the top level's, named by its port
  EXPECT_EQ((*shared.keys)[1].name, "alice");
  EXPECT_EQ((*shared.keys)[2].name, "bob");
  EXPECT_EQ((*shared.keys)[2].key.cipher().name, "aes-128-gcm");
  EXPECT_FALSE(o.cfg->servers[1].keys);
}

TEST(Servers, A2022ServerOrAnotherModeCannotShareAPort) {
  auto o = server_from(R"({"server_port": 8381, "password": "the top-level one",
                           "servers": [{"server_port": 8381, "method": "2022-blake3-aes-128-gcm",
                                        "password": "AAAAAAAAAAAAAAAAAAAAAA=="}]})");
  ASSERT_FALSE(o.errors.empty());
  EXPECT_EQ(o.errors[0].key, "servers[0].server_port");
  EXPECT_NE(o.errors[0].problem.find("port 8381 is already that of another server (the top "
                                     "level's); servers share a port only as keys of 2017"),
            std::string::npos)
      << o.errors[0].problem;
  auto mode = server_from(R"({"server_port": 8381, "password": "the top-level one",
                              "servers": [{"server_port": 8381, "password": "other password",
                                           "mode": "udp_only"}]})");
  EXPECT_EQ(mode.errors.size(), 1u);
  auto same = server_from(R"({"port_password": {"8381": "the same password"},
                              "servers": [{"server_port": 8381, "password": "the same password"}]})");
  ASSERT_EQ(same.errors.size(), 1u);
  EXPECT_EQ(same.errors[0].key, "servers[0].password");
}

TEST(Servers, ANameOfNoServerIsAnError) {
  auto o = server_from(R"({"servers": []})");
  ASSERT_EQ(o.errors.size(), 1u);
  EXPECT_EQ(o.errors[0].key, "servers");
  // Without any list, the top-level keys are required as always.
  auto plain = server_from(R"({"method": "aes-128-gcm"})");
  ASSERT_FALSE(plain.errors.empty());
  EXPECT_EQ(plain.errors[0].key, "server_port");
}

TEST(Servers, UnknownKeysOfAnEntryAreWarnings) {
  auto o = server_from(
      R"({"servers": [{"server_port": 8381, "password": "pw pw pw pw pw pw", "remarks": "x"}]})");
  ASSERT_TRUE(o.cfg) << first_error(o);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_EQ(o.warnings[0], "servers[0].remarks: unknown key, ignored");
}

}  // namespace
}  // namespace ss

namespace ss {
namespace {

TEST(Servers, TheManagersPortsTakeThePlaceOfTheFilesAndRemovedOnesGo) {
  raw_config raw;
  std::vector<config_error> errors;
  std::vector<std::string> warnings;
  load_json_config(R"({"server": "127.0.0.1", "server_port": 8380, "password": "top-level pw",
                       "port_password": {"8381": "file password 1", "8382": "file password 2"},
                       "servers": [{"server_port": 8383, "password": "file password 3"}]})",
                   raw, errors, warnings);
  ASSERT_TRUE(errors.empty());
  override_servers(raw,
                   {{8381, R"({"server_port": 8381, "password": "api password"})"},
                    {8390, R"({"server_port": 8390, "password": "api password 2"})"}},
                   {8380, 8383});
  auto v = validate(raw, program::server, 1);
  ASSERT_TRUE(v.has_value()) << v.error().front().to_string();
  std::map<std::uint16_t, std::string> served;
  for (const auto& s : v.value().servers)
    served[s.server_port] = s.password;
  EXPECT_EQ(served,
            (std::map<std::uint16_t, std::string>{
                {8381, "api password"}, {8382, "file password 2"}, {8390, "api password 2"}}));
  // Everything removed: an error for ss-server, nothing to serve yet for ss-manager.
  override_servers(raw, {}, {8381, 8382, 8390});
  EXPECT_FALSE(validate(raw, program::server, 1).has_value());
  auto none = validate(raw, program::server, 1, nullptr, true);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none.value().servers.empty());
}

}  // namespace
}  // namespace ss
