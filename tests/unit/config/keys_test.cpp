// The key table: it is what JSON accepts, what the documentation lists, and what a reload keeps.
#include "shadowsocks/config/keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "docs_table.hpp"
#include "shadowsocks/config/config.hpp"

namespace ss {
namespace {

// A JSON value of the key's type that loading must accept.
std::string sample_json(const key_spec& k) {
  switch (k.type) {
    case value_type::string:
      return "\"text\"";
    case value_type::integer:
    case value_type::count:
      return "7";
    case value_type::boolean:
      return "true";
    case value_type::string_list:
      return "[\"a\", \"b\"]";
    case value_type::user_list:
      return "[{\"name\": \"a\", \"password\": \"b\"}]";
    case value_type::server_list:
      return "[{\"server_port\": 8381, \"password\": \"b\"}]";
    case value_type::port_map:
      return "{\"8381\": \"b\"}";
    case value_type::object:
      return "{}";
  }
  return "null";
}

// What loading `json` gave.
struct loaded {
  raw_config raw;
  std::vector<config_error> errors;
  std::vector<std::string> warnings;
};
loaded load(const std::string& json) {
  loaded out;
  load_json_config(json, out.raw, out.errors, out.warnings);
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(ConfigKeys, NamesAndFlagsAreUnique) {
  std::vector<std::string> seen;
  for (const auto& k : config_keys()) {
    EXPECT_FALSE(contains(seen, k.name)) << k.name;
    seen.emplace_back(k.name);
    for (const auto& f : k.flags) {
      if (f.name.empty()) continue;
      EXPECT_FALSE(contains(seen, f.name)) << f.name;
      seen.emplace_back(f.name);
    }
    EXPECT_EQ(find_key(k.name), &k);
  }
}

TEST(ConfigKeys, EveryJsonKeyIsAcceptedAsJson) {
  for (const auto& k : config_keys()) {
    if (!k.in_json) continue;
    auto l = load("{\"" + std::string(k.name) + "\": " + sample_json(k) + "}");
    EXPECT_TRUE(l.errors.empty()) << k.name << ": " << l.errors.front().to_string();
    EXPECT_TRUE(l.warnings.empty()) << k.name;
    EXPECT_TRUE(l.raw[k.name].value) << k.name;
    EXPECT_EQ(l.raw[k.name].given_as, k.name);
  }
}

TEST(ConfigKeys, AWrongTypeNamesTheKey) {
  for (const auto& k : config_keys()) {
    if (!k.in_json) continue;
    // An object for every key but those whose value is one.
    const char* wrong =
        k.type == value_type::port_map || k.type == value_type::object ? "[]" : "{}";
    auto l = load("{\"" + std::string(k.name) + "\": " + wrong + "}");
    ASSERT_EQ(l.errors.size(), 1u) << k.name;
    EXPECT_EQ(l.errors[0].key, k.name);
    EXPECT_FALSE(l.raw[k.name].value);
  }
}

TEST(ConfigKeys, FlagOnlyKeysAreNotJsonKeys) {
  auto l = load(R"({"verbose": 1})");
  EXPECT_TRUE(l.errors.empty());
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_NE(l.warnings[0].find("verbose"), std::string::npos);
}

TEST(ConfigKeys, EveryKeyAndFlagIsDocumented) {
  auto rows = test::documented_keys(SS_CONFIGURATION_MD);
  ASSERT_GT(rows.size(), 10u) << "no key table found in " << SS_CONFIGURATION_MD;
  for (const auto& k : config_keys()) {
    auto row = std::find_if(rows.begin(), rows.end(), [&](const test::doc_row& r) {
      return k.in_json ? contains(r.keys, k.name) : contains(r.flags, k.flags[0].name);
    });
    ASSERT_NE(row, rows.end()) << k.name << " is not in docs/configuration.md";
    for (const auto& f : k.flags) {
      if (f.name.empty()) continue;
      EXPECT_TRUE(contains(row->flags, f.name)) << k.name << " " << f.name;
    }
  }
}

TEST(ConfigKeys, EveryDocumentedKeyIsInTheTable) {
  for (const auto& row : test::documented_keys(SS_CONFIGURATION_MD)) {
    for (const auto& key : row.keys) {
      const auto* k = find_key(key);
      ASSERT_NE(k, nullptr) << "docs/configuration.md documents \"" << key << "\"";
      for (const auto& flag : row.flags) {
        bool found = std::any_of(k->flags.begin(), k->flags.end(),
                                 [&](const flag_spec& f) { return f.name == flag; });
        EXPECT_TRUE(found) << key << ": documented flag " << flag << " is not its flag";
      }
    }
  }
}

// The keys of the table that `text` names in backticks.
std::vector<std::string> table_keys_in(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& word : test::backticked(text)) {
    if (find_key(word) != nullptr && !contains(out, word)) out.push_back(word);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The keys the scope column lets a server entry set: ss-server's per port, a client's per
// server.
std::vector<std::string> keys_with(key_scope bit) {
  std::vector<std::string> out;
  for (const auto& k : config_keys()) {
    if ((k.scope & bit) != 0) out.emplace_back(k.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ConfigKeys, TheServersRowNamesExactlyTheKeysAnEntryMaySet) {
  std::string row;
  for (const auto& r : test::documented_keys(SS_CONFIGURATION_MD)) {
    if (contains(r.keys, "servers")) row = r.text;
  }
  ASSERT_FALSE(row.empty()) << "no servers row in docs/configuration.md";
  auto server_part = row.substr(row.find("ss-server:"));
  server_part = server_part.substr(0, server_part.find("ss-local, ss-tunnel, ss-redir:"));
  auto entry = server_part.substr(server_part.find("An entry may set"));
  EXPECT_EQ(table_keys_in(entry.substr(0, entry.find("takes the other keys"))),
            keys_with(per_port));
  auto client_part = row.substr(row.find("ss-local, ss-tunnel, ss-redir:"));
  auto client_entry = client_part.substr(client_part.find("An entry sets"));
  EXPECT_EQ(table_keys_in(client_entry.substr(0, client_entry.find("The top-level server"))),
            keys_with(per_server));
}

TEST(ConfigKeys, TheReloadDocumentationNamesExactlyTheFixedKeys) {
  std::ifstream in(SS_CONFIGURATION_MD);
  std::string line;
  while (std::getline(in, line) && line.rfind("| `SIGHUP`", 0) != 0) {
  }
  ASSERT_FALSE(line.empty()) << "no SIGHUP row in docs/configuration.md";
  std::vector<std::string> documented;
  for (const auto& word : test::backticked(line)) {
    if (find_key(word) != nullptr) documented.push_back(word);
  }
  for (const auto& k : config_keys()) {
    EXPECT_EQ(contains(documented, k.name), k.fixed_in != 0)
        << k.name
        << (k.fixed_in != 0 ? " waits for a restart but the SIGHUP row does not say so"
                            : " is named in the SIGHUP row but a reload changes it");
  }
}

TEST(LoadJson, CommentsAndTrailingCommasAsLibevAndRustAcceptThem) {
  auto l = load(R"({
    // a line comment
    "timeout": 30, /* a block comment, with a comma, } */
    "server": ["a", "b",],
    "password": "x, }",  // a comma in a string stays
  })");
  EXPECT_TRUE(l.errors.empty()) << l.errors.front().to_string();
  EXPECT_EQ(*l.raw["timeout"].get<std::int64_t>(), 30);
  EXPECT_EQ(l.raw["server"].get<std::vector<std::string>>()->size(), 2u);
  EXPECT_EQ(*l.raw["password"].get<std::string>(), "x, }");
}

TEST(LoadJson, TrailingCommasBecomeSpacesAndNothingElseMoves) {
  EXPECT_EQ(blank_trailing_commas(R"({"a": [1, 2,], "b": 3 ,})"), R"({"a": [1, 2 ], "b": 3  })");
  EXPECT_EQ(blank_trailing_commas(R"({"a": ",}", "b": "\",]"})"), R"({"a": ",}", "b": "\",]"})");
  EXPECT_EQ(blank_trailing_commas("[1, // x\n]"), "[1  // x\n]");
  EXPECT_EQ(blank_trailing_commas("[1, /* ] */ ]"), "[1  /* ] */ ]");
  EXPECT_EQ(blank_trailing_commas("[1, 2]"), "[1, 2]");
}

TEST(ExpandEnvironment, NamesThatAreSetAreReplacedAndTheRestStays) {
  ::setenv("SS_TEST_FOLDER", "C:\\Users\\me\\AppData\\Roaming", 1);
  ::unsetenv("SS_TEST_UNSET");
  EXPECT_EQ(expand_environment("%SS_TEST_FOLDER%\\ss\\local.acl"),
            "C:\\Users\\me\\AppData\\Roaming\\ss\\local.acl");
  EXPECT_EQ(expand_environment("a%SS_TEST_FOLDER%b%SS_TEST_FOLDER%"),
            "aC:\\Users\\me\\AppData\\RoamingbC:\\Users\\me\\AppData\\Roaming");
  // Not set: as written, and its closing `%` may open the next name.
  EXPECT_EQ(expand_environment("%SS_TEST_UNSET%\\x"), "%SS_TEST_UNSET%\\x");
  EXPECT_EQ(expand_environment("%SS_TEST_UNSET%SS_TEST_FOLDER%"),
            "%SS_TEST_UNSETC:\\Users\\me\\AppData\\Roaming");
  EXPECT_EQ(expand_environment("100%"), "100%");
  EXPECT_EQ(expand_environment("%%"), "%%");
  EXPECT_EQ(expand_environment("plain"), "plain");
  EXPECT_EQ(expand_environment(""), "");
  ::unsetenv("SS_TEST_FOLDER");
}

TEST(LoadJson, AKeyTwoLettersFromAKnownOneIsAnError) {
  EXPECT_EQ(resembling_key("methd"), "method");
  EXPECT_EQ(resembling_key("sever_port"), "server_port");
  EXPECT_EQ(resembling_key("pasword"), "password");
  EXPECT_EQ(resembling_key("tiemout"), "timeout");  // two letters swapped: one edit
  EXPECT_EQ(resembling_key("remarks"), "");
  EXPECT_EQ(resembling_key("method"), "");  // the key itself is no typo
  auto typo = load(R"({"methd": "aes-128-gcm"})");
  ASSERT_EQ(typo.errors.size(), 1u);
  EXPECT_EQ(typo.errors[0].key, "methd");
  EXPECT_NE(typo.errors[0].problem.find("\"method\""), std::string::npos);
  // Keys of other implementations that we ignore stay warnings, even when close to ours.
  auto rust = load(R"({"locals": [], "remarks": "x", "frobnicate": 1})");
  EXPECT_TRUE(rust.errors.empty());
  EXPECT_EQ(rust.warnings.size(), 3u);
}

TEST(LoadJson, EveryProgramReadsItsAcl) {
  auto l = load(R"({"acl": "/etc/x.acl", "server": "127.0.0.1", "server_port": 8388,
                    "password": "a long and random password", "mode": "tcp_and_udp"})");
  ASSERT_TRUE(l.errors.empty());
  for (auto prog : {program::local, program::server}) {
    auto v = validate(l.raw, prog, 1);
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error()[0].to_string().find("acl: cannot read /etc/x.acl"), std::string::npos);
  }
}

TEST(LoadJson, PluginKeysLoadWithoutAWord) {
  auto plugin = load(R"({"plugin": "obfs-local", "plugin_opts": "obfs=http",
                         "plugin_args": ["-v"], "plugin_mode": "tcp_only"})");
  EXPECT_TRUE(plugin.errors.empty());
  EXPECT_TRUE(plugin.warnings.empty());
}

TEST(LoadJson, FileLevelProblemsNameTheSource) {
  raw_config raw;
  std::vector<config_error> errors;
  std::vector<std::string> warnings;
  load_json_config("{", raw, errors, warnings, "config file \"/etc/x.json\"");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "config file \"/etc/x.json\"");
}

TEST(Validate, ThePublishedPlaceholderIsRefusedAndAShortPasswordWarned) {
  raw_config raw;
  raw["server_port"].set(std::int64_t{8388}, "server_port");
  raw["password"].set(std::string("change-me-to-a-long-random-password"), "password");
  auto refused = validate(raw, program::server, 1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error()[0].key, "password");
  raw["password"].set(std::string("short-pw"), "-k");
  std::vector<std::string> warnings;
  ASSERT_TRUE(validate(raw, program::server, 1, &warnings).has_value());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("-k: 8 characters"), std::string::npos);
  EXPECT_EQ(warnings[0].find("short-pw"), std::string::npos) << "never the password itself";
}

TEST(Validate, The2022MethodsTakeABase64KeyOfTheirSize) {
  raw_config raw;
  raw["server_port"].set(std::int64_t{8388}, "server_port");
  raw["method"].set(std::string("2022-blake3-aes-256-gcm"), "-m");
  auto problem = [&raw](const std::string& password) {
    raw["password"].set(password, "-k");
    auto v = validate(raw, program::server, 1);
    if (v.has_value()) return std::string();
    return v.error().at(0).to_string();
  };
  // A password is never turned into a key for these methods (SIP022 2.1).
  EXPECT_EQ(problem("a long and random password"),
            "-k: must be a base64 key of exactly 32 bytes for 2022-blake3-aes-256-gcm (make one "
            "with: ss-server -m 2022-blake3-aes-256-gcm --keygen); this is not base64");
  EXPECT_NE(problem("AAECAwQFBgcICQoLDA0ODw==").find("; this one has 16"), std::string::npos);
  EXPECT_EQ(problem("AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8="), "");
  raw["method"].set(std::string("2022-blake3-aes-128-gcm"), "-m");
  EXPECT_EQ(problem("AAECAwQFBgcICQoLDA0ODw=="), "");
  auto c = validate(raw, program::server, 1).value();
  EXPECT_EQ(c.key->bytes().size(), 16U);
  EXPECT_EQ(c.password, "AAECAwQFBgcICQoLDA0ODw==");  // for --print-url

  // A client of a multi-user server: iPSK:uPSK (SIP023); the last is the key.
  raw["server"].set(std::vector<std::string>{"127.0.0.1"}, "-s");
  raw["password"].set(std::string("AAECAwQFBgcICQoLDA0ODw==:AQECAwQFBgcICQoLDA0ODw=="), "-k");
  auto client = validate(raw, program::local, 1).value();
  ASSERT_EQ(client.key->identities().size(), 1U);
  EXPECT_EQ(client.key->identities()[0].key[0], 0);
  EXPECT_EQ(client.key->bytes()[0], 1);
  // A server takes one key; ChaCha has no identity headers.
  EXPECT_NE(problem("AAECAwQFBgcICQoLDA0ODw==:AQECAwQFBgcICQoLDA0ODw==").find("users"),
            std::string::npos);
  raw["method"].set(std::string("2022-blake3-chacha20-poly1305"), "-m");
  raw["password"].set(std::string("AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8=:"
                                  "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8="),
                      "-k");
  auto v = validate(raw, program::local, 1);
  ASSERT_FALSE(v.has_value());
  EXPECT_NE(v.error()[0].problem.find("AES 2022"), std::string::npos);
}

TEST(MergeConfig, FlagsOverrideTheFile) {
  raw_config file, flags;
  file["timeout"].set(std::int64_t{30}, "timeout");
  file["method"].set(std::string("aes-128-gcm"), "method");
  flags["timeout"].set(std::int64_t{90}, "-t");
  merge_config(file, flags);
  EXPECT_EQ(*file["timeout"].get<std::int64_t>(), 90);
  EXPECT_EQ(file["timeout"].given_as, "-t");
  EXPECT_EQ(*file["method"].get<std::string>(), "aes-128-gcm");
}

TEST(KeepFixedSettings, ListenAddressesAndThreadsWaitForARestart) {
  raw_config running, next;
  running["server_port"].set(std::int64_t{8388}, "server_port");
  running["method"].set(std::string("aes-128-gcm"), "method");
  next["server_port"].set(std::int64_t{8389}, "server_port");
  next["method"].set(std::string("aes-256-gcm"), "method");
  next["workers"].set(std::int64_t{4}, "workers");
  auto kept = keep_fixed_settings(running, next, program::server);
  EXPECT_EQ(kept, (std::vector<std::string>{"server_port", "workers"}));
  EXPECT_EQ(*next["server_port"].get<std::int64_t>(), 8388);
  EXPECT_FALSE(next["workers"].value);  // back to the running value: not given
  EXPECT_EQ(*next["method"].get<std::string>(), "aes-256-gcm");
}

TEST(KeepFixedSettings, AClientMayMoveToAnotherServer) {
  raw_config running, next;
  running["server"].set(std::vector<std::string>{"a.example"}, "server");
  running["local_port"].set(std::int64_t{1080}, "local_port");
  next["server"].set(std::vector<std::string>{"b.example"}, "server");
  next["local_port"].set(std::int64_t{1081}, "local_port");
  EXPECT_EQ(keep_fixed_settings(running, next, program::local),
            std::vector<std::string>{"local_port"});
  EXPECT_EQ(next["server"].get<std::vector<std::string>>()->front(), "b.example");
}

TEST(Validate, EveryProblemNamesItsKeyOrFlag) {
  raw_config raw;
  raw["server_port"].set(std::int64_t{70000}, "-p");
  raw["timeout"].set(std::int64_t{0}, "timeout");
  raw["password"].set(std::string("pw"), "-k");
  auto v = validate(raw, program::local, 2);
  ASSERT_FALSE(v.has_value());
  std::vector<std::string> keys;
  for (const auto& e : v.error())
    keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"server", "-p", "timeout"}));
  // Only the key not given at all is "missing" (a first run without a config says so).
  EXPECT_TRUE(v.error()[0].missing);
  EXPECT_FALSE(v.error()[1].missing);
  EXPECT_FALSE(v.error()[2].missing);
}

TEST(Validate, DefaultsForAServer) {
  raw_config raw;
  raw["server_port"].set(std::int64_t{0}, "-p");
  raw["password"].set(std::string("pw"), "-k");
  auto c = validate(raw, program::server, 3).value();
  EXPECT_EQ(c.server_hosts, std::vector<std::string>{"0.0.0.0"});
  EXPECT_EQ(c.workers, 3u);
  EXPECT_EQ(c.key->cipher().name, default_method);
  EXPECT_EQ(c.prog, program::server);
}

}  // namespace
}  // namespace ss

namespace ss {
namespace {

// A file in the test's temporary directory with `text` in it; removed at the end.
struct temp_file {
  explicit temp_file(const std::string& text, const char* name = "users.json")
      : path(testing::TempDir() + name) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  ~temp_file() { std::remove(path.c_str()); }
  std::string path;
};

TEST(Validate, LocalUsersComeFromAFileInShadowsocksRustsShape) {
  raw_config raw;
  raw["server"].set(std::vector<std::string>{"127.0.0.1"}, "-s");
  raw["server_port"].set(std::int64_t{8388}, "server_port");
  raw["password"].set(std::string("a long and random password"), "-k");
  auto problem = [&raw](const std::string& text) {
    temp_file f(text);
    raw["socks5_auth_config_path"].set(f.path, "socks5_auth_config_path");
    auto v = validate(raw, program::local, 1);
    if (v.has_value()) return std::string();
    auto line = v.error().at(0).to_string();
    return line.replace(line.find(f.path), f.path.size(), "FILE");
  };
  EXPECT_EQ(problem(R"({"password": {"users": [{"user_name": "alice", "password": "pw1"},
                       {"user_name": "bob", "password": "pw2"}]}})"),
            "");
  temp_file good(R"({"password": {"users": [{"user_name": "alice", "password": "pw1"}]}})");
  raw["socks5_auth_config_path"].set(good.path, "--socks5-auth-config-path");
  auto c = validate(raw, program::local, 1).value();
  ASSERT_TRUE(c.local_users);
  EXPECT_TRUE(c.local_users->accepts("alice", "pw1"));
  EXPECT_FALSE(c.local_users->accepts("alice", "pw2"));
  EXPECT_EQ(c.socks5_auth_config_path, good.path);

  EXPECT_EQ(problem("{"), "socks5_auth_config_path: FILE is not valid JSON");
  EXPECT_NE(problem(R"({"users": []})").find("has no \"password\" object"), std::string::npos);
  EXPECT_EQ(problem(R"({"password": {"users": []}})"),
            "socks5_auth_config_path: FILE lists no users");
  EXPECT_EQ(problem(R"({"password": {"users": [{"user_name": "a"}]}})"),
            "socks5_auth_config_path: FILE user 1: has no \"password\" string");
  EXPECT_EQ(problem(R"({"password": {"users": [{"user_name": "", "password": "x"}]}})"),
            "socks5_auth_config_path: FILE user 1: user_name must be 1 to 255 bytes");
  EXPECT_EQ(problem(R"({"password": {"users": [{"user_name": "a", "password": "x"},
                       {"user_name": "a", "password": "y"}]}})"),
            "socks5_auth_config_path: FILE user 2: another user is named \"a\"");

  raw["socks5_auth_config_path"].set(testing::TempDir() + "no-such-file", "-x");
  auto missing = validate(raw, program::local, 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error()[0].problem.find("No such file"), std::string::npos);
}

TEST(Validate, TheServerReadsItsAclWithTheConfiguration) {
  raw_config raw;
  raw["server_port"].set(std::int64_t{8388}, "server_port");
  raw["password"].set(std::string("a long and random password"), "-k");
  temp_file good("[accept_all]\n[black_list]\n192.0.2.0/24\n", "good.acl");
  raw["acl"].set(good.path, "--acl");
  auto c = validate(raw, program::server, 1).value();
  ASSERT_TRUE(c.access_list);
  EXPECT_TRUE(c.access_list->client_refused(*target_address::parse("192.0.2.1:1")));
  EXPECT_EQ(c.acl_path, good.path);
  temp_file bad("[black_list]\n192.0.2.0/40\n", "bad.acl");
  raw["acl"].set(bad.path, "acl");
  auto v = validate(raw, program::server, 1);
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error()[0].to_string(),
            "acl: " + bad.path + ":2: \"192.0.2.0/40\": the prefix length must be 0 to 32");
}

TEST(Validate, TheLocalPortServesHttpAndSocks4UnlessSwitchedOff) {
  raw_config raw;
  raw["server"].set(std::vector<std::string>{"127.0.0.1"}, "-s");
  raw["server_port"].set(std::int64_t{8388}, "server_port");
  raw["password"].set(std::string("a long and random password"), "-k");
  auto c = validate(raw, program::local, 1).value();
  EXPECT_TRUE(c.local_http);
  EXPECT_TRUE(c.local_socks4);
  EXPECT_FALSE(c.local_users);
  raw["local_http"].set(false, "--no-http");
  raw["local_socks4"].set(false, "local_socks4");
  c = validate(raw, program::local, 1).value();
  EXPECT_FALSE(c.local_http);
  EXPECT_FALSE(c.local_socks4);
}

}  // namespace
}  // namespace ss
