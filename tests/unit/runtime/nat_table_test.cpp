// The UDP association table: LRU cap and idle expiry (private header of the core library).
#include "shadowsocks/runtime/nat_table.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ss {
namespace {

using namespace std::chrono_literals;

struct entry {
  int id;
  std::vector<int>* closed;
  void close() { closed->push_back(id); }
};

TEST(NatTable, FindInsertAndCapEvictsLeastRecentlyUsed) {
  std::vector<int> closed;
  nat_table<int, entry> t(3, 300s);
  auto now = std::chrono::steady_clock::now();
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(t.insert(i, std::make_shared<entry>(entry{i, &closed}), now), 0U);
  }
  EXPECT_EQ(t.size(), 3U);
  ASSERT_TRUE(t.find(1, now + 1s));  // 1 is now the most recently used; 2 is the oldest
  EXPECT_EQ(t.insert(4, std::make_shared<entry>(entry{4, &closed}), now + 2s), 1U);
  EXPECT_EQ(closed, std::vector<int>{2});
  EXPECT_FALSE(t.find(2));
  EXPECT_TRUE(t.find(1));
  EXPECT_TRUE(t.find(3));
  EXPECT_TRUE(t.find(4));
  EXPECT_EQ(t.size(), 3U);
}

TEST(NatTable, ExpiresOnlySilentEntries) {
  std::vector<int> closed;
  nat_table<int, entry> t(10, 5s);
  auto now = std::chrono::steady_clock::now();
  t.insert(1, std::make_shared<entry>(entry{1, &closed}), now);
  t.insert(2, std::make_shared<entry>(entry{2, &closed}), now);
  t.touch(1, now + 4s);
  EXPECT_EQ(t.expire(now + 5s), 0U);
  EXPECT_EQ(t.expire(now + 6s), 1U);
  EXPECT_EQ(closed, std::vector<int>{2});
  EXPECT_TRUE(t.find(1, now + 6s));
  EXPECT_EQ(t.expire(now + 12s), 1U);
  EXPECT_EQ(t.size(), 0U);
}

TEST(NatTable, CapacityOneAndClear) {
  std::vector<int> closed;
  nat_table<int, entry> t(1, 1s);
  t.insert(1, std::make_shared<entry>(entry{1, &closed}));
  t.insert(2, std::make_shared<entry>(entry{2, &closed}));
  EXPECT_EQ(closed, std::vector<int>{1});
  t.clear();
  EXPECT_EQ(closed, (std::vector<int>{1, 2}));
  EXPECT_EQ(t.size(), 0U);
}

}  // namespace
}  // namespace ss
