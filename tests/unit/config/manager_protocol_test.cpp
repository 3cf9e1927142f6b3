// libev's ss-manager protocol: commands as panels send them, replies byte for byte as libev
// writes them (its manager.c formats, quoted in the expectations).
#include "shadowsocks/config/manager_protocol.hpp"

#include <gtest/gtest.h>

namespace ss::manager {
namespace {

// The JSON text of the add's key `name`, when it was taken.
std::optional<std::string> key_of(const server_spec& s, std::string_view name) {
  for (const auto& [k, v] : s.keys)
    if (k == name) return v;
  return std::nullopt;
}

TEST(ManagerProtocol, AddTakesThePortAsNumberOrStringAndTheOptionalKeys) {
  auto p = parse(R"(add: {"server_port": 8001, "password": "7cd308cc059"})");
  ASSERT_TRUE(p.cmd);
  EXPECT_EQ(p.cmd->what, verb::add);
  EXPECT_EQ(p.cmd->server.port, 8001);
  EXPECT_EQ(p.cmd->server.password, "7cd308cc059");
  EXPECT_TRUE(p.cmd->server.keys.empty());
  p = parse(R"(add: {"server_port":"8002","password":"pw","method":"aes-256-gcm",)"
            R"("plugin":"obfs-server","plugin_opts":"obfs=http","mode":"tcp_and_udp",)"
            R"("fast_open":true,"timeout":30,"workers":8,"no_such_key":1})");
  ASSERT_TRUE(p.cmd);
  EXPECT_EQ(p.cmd->server.port, 8002);
  EXPECT_EQ(p.cmd->server.password, "pw");
  EXPECT_EQ(key_of(p.cmd->server, "method"), "\"aes-256-gcm\"");
  EXPECT_EQ(key_of(p.cmd->server, "plugin"), "\"obfs-server\"");
  EXPECT_EQ(key_of(p.cmd->server, "plugin_opts"), "\"obfs=http\"");
  EXPECT_EQ(key_of(p.cmd->server, "mode"), "\"tcp_and_udp\"");
  EXPECT_EQ(key_of(p.cmd->server, "timeout"), "30");  // a port's own, by the key table
  // The process's alone (fast_open, workers) and unknown keys are not the port's.
  EXPECT_EQ(p.cmd->server.keys.size(), 5u);
  EXPECT_FALSE(key_of(p.cmd->server, "fast_open"));
  EXPECT_FALSE(key_of(p.cmd->server, "workers"));
}

TEST(ManagerProtocol, ABadAddOrRemoveIsAnsweredErr) {
  for (const char* bad :
       {"add", "add: ", "add: {", "add: {\"password\": \"x\"}", "add: {\"server_port\": 8001}",
        "add: {\"server_port\": 0, "
        "\"password\": \"x\"}",
        "add: {\"server_port\": \"80a\", \"password\": \"x\"}",
        "add: {\"server_port\": 70000, \"password\": \"x\"}",
        "add: {\"server_port\": 8001, \"password\": \"\"}", "remove: {}", "remove: []"}) {
    auto p = parse(bad);
    EXPECT_FALSE(p.cmd) << bad;
    EXPECT_TRUE(p.reply_err) << bad;
  }
  auto r = parse(R"(remove: {"server_port": 8001})");
  ASSERT_TRUE(r.cmd);
  EXPECT_EQ(r.cmd->what, verb::remove);
  EXPECT_EQ(r.cmd->server.port, 8001);
}

TEST(ManagerProtocol, ListPingAndStat) {
  EXPECT_EQ(parse("list").cmd->what, verb::list);
  EXPECT_EQ(parse("  ping\n").cmd->what, verb::ping);
  // What libev's ss-server sends, with its trailing NUL.
  auto s = parse(std::string_view("stat: {\"8001\":11370}\0", 21));
  ASSERT_TRUE(s.cmd);
  EXPECT_EQ(s.cmd->what, verb::stat);
  ASSERT_EQ(s.cmd->traffic.size(), 1u);
  EXPECT_EQ(s.cmd->traffic[0], (std::pair<std::uint16_t, std::uint64_t>{8001, 11370}));
  // Unknown commands and junk: no answer at all.
  for (const char* quiet : {"", "hello", "stat", "stat: nope", "lists"}) {
    auto p = parse(quiet);
    EXPECT_FALSE(p.cmd) << quiet;
    EXPECT_FALSE(p.reply_err) << quiet;
  }
}

TEST(ManagerProtocol, RepliesAreLibevsBytes) {
  // manager.c: sprintf("\n\t{\"server_port\":\"%s\",\"password\":\"%s\",\"method\":\"%s\"},")
  // per server after "[", the last byte then replaced by "\n]".
  EXPECT_EQ(format_list({{8001, "pw1", "aes-256-gcm"}, {8002, "pw2", "chacha20-ietf-poly1305"}}),
            "[\n\t{\"server_port\":\"8001\",\"password\":\"pw1\",\"method\":\"aes-256-gcm\"},"
            "\n\t{\"server_port\":\"8002\",\"password\":\"pw2\",\"method\":"
            "\"chacha20-ietf-poly1305\"}\n]");
  EXPECT_EQ(format_list({}), "[\n]");  // as Debian's libev 3.3.5 answers (interop test)
  EXPECT_EQ(format_stat({{8001, 11370}, {8002, 0}}), "stat: {\"8001\":11370,\"8002\":0}");
  EXPECT_EQ(format_stat({}), "stat: {}");
  EXPECT_EQ(format_push(8388, 42), "stat: {\"8388\":42}");
}

}  // namespace
}  // namespace ss::manager
