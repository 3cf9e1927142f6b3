#include "shadowsocks/crypto/replay_filter.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "../test_support.hpp"

namespace ss {
namespace {

using test::bytes;

bytes salt(std::uint32_t i) {
  return test::pseudo_random(32, i + 1);
}

TEST(ReplayFilter, SizedForAMillionSaltsAtOneIn1e10) {
  replay_filter f(1'000'000, 1e-10);
  // Each filter at p = 5e-11: m = n ln(1/p) / ln(2)^2 ~ 49.4 Mbit, k = (m/n) ln 2 ~ 34.
  EXPECT_NEAR(static_cast<double>(f.bits()), 49.37e6, 0.05e6);
  EXPECT_EQ(f.hashes(), 34U);
  // The false-positive rate this sizing gives with both filters full, by the Bloom formula.
  double per_filter =
      std::pow(1 - std::exp(-double(f.hashes()) * 1e6 / double(f.bits())), f.hashes());
  EXPECT_LE(2 * per_filter, 1e-10);
}

TEST(ReplayFilter, SecondSightingIsAReplay) {
  replay_filter f(1000);
  EXPECT_FALSE(f.check_and_insert(salt(1)));
  EXPECT_TRUE(f.check_and_insert(salt(1)));
  EXPECT_TRUE(f.contains(salt(1)));
  EXPECT_FALSE(f.contains(salt(2)));
  f.insert(salt(3));
  EXPECT_TRUE(f.check_and_insert(salt(3)));
}

TEST(ReplayFilter, NoFalsePositivesAmongManyFreshSalts) {
  replay_filter f(20000, 1e-10);
  for (std::uint32_t i = 0; i < 40000; ++i) {
    ASSERT_FALSE(f.check_and_insert(salt(i))) << i;
  }
}

TEST(ReplayFilter, PingPongRemembersBetweenOneAndTwoGenerations) {
  replay_filter f(100);
  for (std::uint32_t i = 0; i < 100; ++i)
    f.insert(salt(i));  // generation A full
  for (std::uint32_t i = 100; i < 200; ++i)
    f.insert(salt(i));               // generation B full
  EXPECT_TRUE(f.contains(salt(0)));  // A still remembered
  f.insert(salt(200));               // A cleared, refilled
  EXPECT_FALSE(f.contains(salt(0)));
  EXPECT_TRUE(f.contains(salt(150)));
  EXPECT_TRUE(f.contains(salt(200)));
}

TEST(ReplayFilter, SurvivesSaveAndLoad) {
  // Unique per process: test runs of several builds may overlap.
  auto path = (std::filesystem::temp_directory_path() /
               ("ss-replay-test-" + std::to_string(::getpid()) + ".state"))
                  .string();
  replay_filter a(5000);
  for (std::uint32_t i = 0; i < 7000; ++i)
    a.insert(salt(i));
  EXPECT_TRUE(a.dirty());
  ASSERT_FALSE(a.save(path));
  EXPECT_FALSE(a.dirty());
  replay_filter b(5000);
  EXPECT_FALSE(b.contains(salt(6999)));
  ASSERT_FALSE(b.load(path));
  for (std::uint32_t i = 0; i < 7000; ++i)
    ASSERT_TRUE(b.contains(salt(i))) << i;
  EXPECT_FALSE(b.contains(salt(7000)));
  // The generation counter came along: 3000 more salts rotate the older generation out.
  for (std::uint32_t i = 7000; i < 10001; ++i)
    b.insert(salt(i));
  EXPECT_FALSE(b.contains(salt(0)));

  // A filter of another size, a corrupt file, a missing file: refused, state unchanged.
  replay_filter other(6000);
  EXPECT_TRUE(other.load(path));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
  }
  replay_filter c(5000);
  EXPECT_TRUE(c.load(path));
  EXPECT_FALSE(c.contains(salt(1)));
  std::filesystem::remove(path);
  EXPECT_TRUE(c.load(path));
}

TEST(RecentSalts, ExactForSixtySecondsThenForgotten) {
  using namespace std::chrono_literals;
  recent_salts salts;
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  bytes a(32, 1), b(32, 2);
  EXPECT_FALSE(salts.check_and_insert(a, t0));
  EXPECT_TRUE(salts.check_and_insert(a, t0 + 1s));
  EXPECT_FALSE(salts.check_and_insert(b, t0 + 30s));
  EXPECT_TRUE(salts.check_and_insert(a, t0 + 60s)) << "kept for the full 60 s";
  // After 60 s the first is gone (its timestamp can no longer be fresh), the second is not.
  EXPECT_FALSE(salts.check_and_insert(a, t0 + 61s));
  EXPECT_TRUE(salts.check_and_insert(b, t0 + 61s));
  EXPECT_EQ(salts.size(), 2U);
  // No false positives: salts differing in one bit are all new.
  for (std::size_t i = 0; i < 256; ++i) {
    bytes c(32, 0);
    c[i / 8] = static_cast<std::uint8_t>(1u << (i % 8));
    EXPECT_FALSE(salts.check_and_insert(c, t0 + 62s)) << i;
  }
}

}  // namespace
}  // namespace ss
