// `-a user` without glibc's NSS (the static build): passwd(5) and group(5) read as glibc's
// "files" source reads them; and the system's own accounts through whichever source the build
// has.
#include <gtest/gtest.h>
#include <unistd.h>

#include "shadowsocks/config/system_user.hpp"

namespace ss {
namespace {

constexpr std::string_view passwd = R"(# a comment
root:x:0:0:root:/root:/bin/bash
broken:x:notanumber:5:::
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
shadowsocks:x:998:997::/var/lib/shadowsocks:/usr/sbin/nologin
toolarge:x:99999999999:1:::
shadowsocks:x:1:1:a second entry is not used::)";

constexpr std::string_view group = R"(root:x:0:
daemon:x:1:shadowsocks
shadowsocks:x:997:
users:x:100:alice,shadowsocks,bob
netdev:x:108:alice
prefix:x:200:shadowsocks2
primary-again:x:997:shadowsocks
bad:x:zz:shadowsocks
)";

TEST(SystemUser, FindsTheFirstEntryOfTheName) {
  auto u = find_in_passwd(passwd, "shadowsocks");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "shadowsocks");
  EXPECT_EQ(u->uid, 998u);
  EXPECT_EQ(u->gid, 997u);
  EXPECT_EQ(u->groups, std::vector<gid_t>{997});
  auto root = find_in_passwd(passwd, "root");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->uid, 0u);
}

TEST(SystemUser, PassesOverBadLinesAndUnknownNames) {
  EXPECT_FALSE(find_in_passwd(passwd, "broken"));
  EXPECT_FALSE(find_in_passwd(passwd, "toolarge"));
  EXPECT_FALSE(find_in_passwd(passwd, "nosuchuser"));
  EXPECT_FALSE(find_in_passwd(passwd, "shadow"));  // a prefix is not the name
  EXPECT_FALSE(find_in_passwd(passwd, "# a comment"));
  EXPECT_FALSE(find_in_passwd("", "root"));
  EXPECT_FALSE(find_in_passwd("root:x:0", "root"));  // too few fields
}

TEST(SystemUser, GroupsAreTheOnesThatListTheUserOnceEach) {
  auto u = find_in_passwd(passwd, "shadowsocks");
  ASSERT_TRUE(u);
  add_group_memberships(group, *u);
  EXPECT_EQ(u->groups, (std::vector<gid_t>{997, 1, 100}));
}

TEST(SystemUser, TheSystemsOwnAccounts) {
  auto root = find_system_user("root");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->uid, 0u);
  EXPECT_FALSE(root->groups.empty());
  EXPECT_FALSE(find_system_user("no-such-user-of-shadowsocks-cpp"));
  EXPECT_FALSE(find_system_user(""));
}

}  // namespace
}  // namespace ss
