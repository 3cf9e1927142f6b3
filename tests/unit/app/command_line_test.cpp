// The command line is built from the key table: every key's flag is accepted where it is
// offered, and the documentation's flag-only rows are real flags.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli.hpp"
#include "docs_table.hpp"

namespace ss {
namespace {

command_line parse(const program_profile& p, std::vector<std::string> args) {
  args.insert(args.begin(), p.name);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return parse_command_line(p, static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, EveryKeyFlagIsAcceptedWhereItIsOffered) {
  for (const auto* p :
       {&profile_of(program::local), &profile_of(program::server), &profile_of(program::tunnel),
        &profile_of(program::redir), &manager_profile()}) {
    const auto& profile = *p;
    for (const auto& key : config_keys()) {
      if (!offered_on(key.programs, profile.id, profile.manages)) continue;
      for (const auto& flag : key.flags) {
        if (flag.name.empty()) continue;
        std::vector<std::string> args{std::string(flag.name)};
        bool takes_value = flag.sets.empty() && key.type != value_type::count;
        if (takes_value) args.push_back(key.type == value_type::integer ? "7" : "text");
        auto cl = parse(profile, args);
        ASSERT_TRUE(cl.run) << profile.name << " " << flag.name;
        EXPECT_TRUE(cl.errors.empty()) << profile.name << " " << flag.name;
        EXPECT_TRUE(cl.flags[key.name].value) << profile.name << " " << flag.name;
        EXPECT_EQ(cl.flags[key.name].given_as, flag.name);
      }
    }
  }
}

TEST(CommandLine, SwitchesGiveTheirValueAndTheLastOneWins) {
  auto cl = parse(profile_of(program::server), {"-u", "-U", "--fast-open", "-vv"});
  EXPECT_EQ(*cl.flags["mode"].get<std::string>(), "udp_only");
  EXPECT_EQ(*cl.flags["fast_open"].get<bool>(), true);
  EXPECT_EQ(*cl.flags["verbose"].get<std::int64_t>(), 2);
  auto servers =
      parse(profile_of(program::server), {"-s", "::1", "-s", "127.0.0.1", "-t", "5", "-t", "9"});
  EXPECT_EQ(*servers.flags["server"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"::1", "127.0.0.1"}));
  EXPECT_EQ(*servers.flags["timeout"].get<std::int64_t>(), 9);
}

TEST(CommandLine, AFlagOfAnotherProgramIsRefused) {
  auto cl = parse(profile_of(program::server), {"-L", "example.com:80"});
  EXPECT_FALSE(cl.run);
  EXPECT_EQ(cl.exit_code, 2);
  // ss-manager's own flags are not ss-server's, nor ss-server's --print-url ss-manager's.
  EXPECT_FALSE(parse(profile_of(program::server), {"--manager-state-file", "x"}).run);
  EXPECT_TRUE(parse(manager_profile(), {"--manager-state-file", "x"}).run);
  EXPECT_FALSE(parse(manager_profile(), {"--print-url"}).run);
}

TEST(CommandLine, ANonNumberIsAnErrorNamingTheFlag) {
  auto cl = parse(profile_of(program::local), {"-p", "x8"});
  ASSERT_EQ(cl.errors.size(), 1u);
  EXPECT_EQ(cl.errors[0].key, "-p");
  EXPECT_FALSE(cl.flags["server_port"].value);
}

TEST(CommandLine, DocumentedFlagOnlyRowsAreRealFlags) {
  auto rows = test::documented_keys(SS_CONFIGURATION_MD);
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    if (!row.keys.empty()) continue;  // keys: checked against the table by the config tests
    for (const auto& flag : row.flags) {
      bool is_option = std::any_of(command_options().begin(), command_options().end(),
                                   [&](const command_option& o) { return o.name == flag; });
      bool is_key_flag = std::any_of(
          config_keys().begin(), config_keys().end(),
          [&](const key_spec& k) { return k.flags[0].name == flag || k.flags[1].name == flag; });
      EXPECT_TRUE(is_option || is_key_flag) << "documented flag " << flag;
    }
  }
}

}  // namespace
}  // namespace ss
