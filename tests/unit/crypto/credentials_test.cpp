#include "shadowsocks/crypto/credentials.hpp"

#include <gtest/gtest.h>

namespace ss {
namespace {

TEST(CredentialTable, AcceptsExactlyTheEntries) {
  credential_table t;
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.accepts("", ""));
  t.add("alice", "wonderland");
  t.add("bob", "");
  EXPECT_EQ(t.size(), 2U);
  EXPECT_TRUE(t.accepts("alice", "wonderland"));
  EXPECT_TRUE(t.accepts("bob", ""));
  EXPECT_FALSE(t.accepts("alice", "wonderlanD"));
  EXPECT_FALSE(t.accepts("alice", "wonderland "));
  EXPECT_FALSE(t.accepts("alice", ""));
  EXPECT_FALSE(t.accepts("bob", "wonderland"));  // another user's password
  EXPECT_FALSE(t.accepts("Alice", "wonderland"));
}

TEST(CredentialTable, TheSplitBetweenNameAndPasswordMatters) {
  credential_table t;
  t.add("ab", "c");
  EXPECT_TRUE(t.accepts("ab", "c"));
  EXPECT_FALSE(t.accepts("a", "bc"));
  EXPECT_FALSE(t.accepts("abc", ""));
}

TEST(CredentialTable, BytesOfEveryValueCount) {
  credential_table t;
  std::string user("u\0x", 3);
  t.add(user, std::string("\xff\0", 2));
  EXPECT_TRUE(t.accepts(user, std::string("\xff\0", 2)));
  EXPECT_FALSE(t.accepts("u", std::string("\xff\0", 2)));
  EXPECT_FALSE(t.accepts(user, "\xff"));
}

}  // namespace
}  // namespace ss
