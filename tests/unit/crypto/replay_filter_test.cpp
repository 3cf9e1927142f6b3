#include "shadowsocks/crypto/replay_filter.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

bytes salt(std::uint32_t i) {
  return test::pseudo_random(32, i + 1);
}

TEST(ReplayFilter, SizedForAMillionSaltsAtOneIn1e10) {
  replay_filter f(1'000'000, 1e-10);
  // Unblocked, each filter at p = 5e-11 would need m = n ln(1/p) / ln(2)^2 ~ 49.4 Mbit and
  // k ~ 34; page-blocked a little more: about 50.2 Mbit (1532 pages of 4 KiB).
  EXPECT_EQ(f.bits() % replay_filter::block_bits, 0U);
  EXPECT_GE(static_cast<double>(f.bits()), 49.37e6);
  EXPECT_LE(static_cast<double>(f.bits()), 49.37e6 * 1.03);
  EXPECT_GE(f.hashes(), 34U);
  EXPECT_LE(f.hashes(), 35U);
  // The false-positive rate this sizing gives with both filters full.
  double per_filter = replay_filter::false_positive_rate(
      1'000'000, f.bits() / replay_filter::block_bits, f.hashes());
  EXPECT_LE(2 * per_filter, 1e-10);
  // The blocked formula is never better than the unblocked one for the same bits, and close
  // to it with salts spread over many blocks.
  double unblocked =
      std::pow(1 - std::exp(-double(f.hashes()) * 1e6 / double(f.bits())), f.hashes());
  EXPECT_GE(per_filter, unblocked);
  EXPECT_LE(per_filter, 3 * unblocked);
}

TEST(ReplayFilter, FalsePositiveRateMeasuredMatchesTheSizing) {
  // At a rate high enough to count: 2 % with both generations full (1 % each). Measured
  // over 200,000 salts never inserted; the count is binomial (sd about 63 of 4000).
  replay_filter f(20000, 0.02);
  for (std::uint32_t i = 0; i < 40000; ++i)
    f.insert(salt(i));
  int seen = 0;
  for (std::uint32_t i = 1'000'000; i < 1'200'000; ++i)
    seen += f.contains(salt(i)) ? 1 : 0;
  double rate = seen / 200000.0;
  EXPECT_LE(rate, 0.02 * 1.1) << "more false positives than the filter was sized for";
  EXPECT_GE(rate, 0.02 * 0.5) << "far fewer than sized for: the sizing formula is off";
}

TEST(ReplayFilter, MemoryComesWithTheSalts) {
  // A server's filter: 12 MB of address space, but nothing resident before the first salt,
  // one page per salt at most after, and a cleared generation gives its pages back.
  replay_filter f(1'000'000, 1e-10);
  EXPECT_EQ(f.resident_bytes(), 0U);
  for (std::uint32_t i = 0; i < 100; ++i)
    f.insert(salt(i));
  EXPECT_GT(f.resident_bytes(), 0U);
  EXPECT_LE(f.resident_bytes(), 100U * 4096);
  for (std::uint32_t i = 0; i < 100; ++i)
    EXPECT_TRUE(f.contains(salt(i)));

  replay_filter small(1000);
  for (std::uint32_t i = 0; i < 3001; ++i)
    small.insert(salt(i));  // the first generation was cleared at salt 2000
  EXPECT_LE(small.resident_bytes(), small.bits() / 8 * 2);
  EXPECT_FALSE(small.contains(salt(0)));
  EXPECT_TRUE(small.contains(salt(3000)));
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

// A restart: the salts of the last minute come back with their ages, so a request recorded
// before the restart is still a replay after it, for the rest of its minute.
TEST(RecentSalts, SurviveARestartForTheRestOfTheirMinute) {
  using namespace std::chrono_literals;
  auto path = (std::filesystem::temp_directory_path() /
               ("ss-salts-test-" + std::to_string(::getpid()) + ".state"))
                  .string();
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  auto wall0 = std::chrono::system_clock::time_point{} + 1'800'000'000s;
  recent_salts before;
  bytes old(32, 1), recent(16, 2);
  EXPECT_FALSE(before.check_and_insert(old, t0));
  EXPECT_FALSE(before.check_and_insert(recent, t0 + 40s));
  ASSERT_FALSE(before.save(path, t0 + 50s, wall0 + 50s));
  // Started again 5 s later, on a steady clock of its own.
  auto t1 = std::chrono::steady_clock::time_point{} + 7s;
  recent_salts after;
  ASSERT_FALSE(after.load(path, t1, wall0 + 55s));
  EXPECT_EQ(after.size(), 2U);
  EXPECT_TRUE(after.check_and_insert(old, t1 + 4s)) << "accepted 59 s before";
  EXPECT_TRUE(after.check_and_insert(recent, t1 + 40s)) << "accepted 55 s before";
  EXPECT_FALSE(after.check_and_insert(old, t1 + 6s + 40s)) << "its minute is over";
  // Loaded later than a minute after they were accepted: none is kept.
  recent_salts late;
  ASSERT_FALSE(late.load(path, t1, wall0 + 101s));
  EXPECT_EQ(late.size(), 0U);
  // A corrupt file is refused and adds nothing.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    f.put('\x55');
  }
  recent_salts corrupt;
  EXPECT_TRUE(corrupt.load(path, t1, wall0 + 55s));
  EXPECT_EQ(corrupt.size(), 0U);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ss
