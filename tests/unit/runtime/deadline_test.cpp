// Phase deadlines on the per-loop timer wheel (runtime layer): never early, never after a
// cancel, a re-arm or destruction; actions that cancel, destroy or re-arm deadlines (their
// own too) while the wheel runs them; a loop with nothing due is not woken.
#include "shadowsocks/runtime/deadline.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace ss {
namespace {

struct loop {
  net::io_context ctx{1};
  net::any_io_executor ex = ctx.get_executor();
  // Runs until `done()` or for at most two seconds.
  template <typename F>
  void run_until(F done) {
    auto end = steady_clock::now() + 2s;
    while (!done() && steady_clock::now() < end)
      ctx.run_one_for(20ms);
  }
};

TEST(Deadline, RunsNotBeforeItsTime) {
  loop l;
  deadline d(l.ex);
  auto armed = steady_clock::now();
  steady_clock::time_point ran{};
  d.arm(30ms, [&] { ran = steady_clock::now(); });
  l.run_until([&] { return ran != steady_clock::time_point{}; });
  ASSERT_NE(ran, steady_clock::time_point{});
  EXPECT_GE(ran - armed, 30ms);
  EXPECT_TRUE(d.expired());
}

TEST(Deadline, NeverRunsAfterCancelOrReArm) {
  loop l;
  deadline cancelled(l.ex), rearmed(l.ex), marker(l.ex);
  int cancelled_runs = 0, first = 0, second = 0;
  bool done = false;
  cancelled.arm(5ms, [&] { ++cancelled_runs; });
  cancelled.cancel();
  rearmed.arm(5ms, [&] { ++first; });
  rearmed.arm(15ms, [&] { ++second; });
  marker.arm(60ms, [&] { done = true; });
  l.run_until([&] { return done; });
  EXPECT_TRUE(done);
  EXPECT_EQ(cancelled_runs, 0);
  EXPECT_FALSE(cancelled.expired());
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
}

TEST(Deadline, DestroyedBeforeItsTimeNeverRuns) {
  loop l;
  int runs = 0;
  bool done = false;
  {
    deadline d(l.ex);
    d.arm(5ms, [&] { ++runs; });
  }
  deadline marker(l.ex);
  marker.arm(40ms, [&] { done = true; });
  l.run_until([&] { return done; });
  EXPECT_EQ(runs, 0);
}

// Deadlines due in the same slot: the first one's action destroys the second and cancels
// the third, which therefore never run; the fourth still does.
TEST(Deadline, AnActionMayDestroyOrCancelOthersDueWithIt) {
  loop l;
  auto when = steady_clock::now() + 20ms;
  std::vector<int> ran;
  auto second = std::make_unique<deadline>(l.ex);
  deadline first(l.ex), third(l.ex), fourth(l.ex);
  first.arm(when, [&] {
    ran.push_back(1);
    second.reset();
    third.cancel();
  });
  second->arm(when, [&] { ran.push_back(2); });
  third.arm(when, [&] { ran.push_back(3); });
  fourth.arm(when, [&] { ran.push_back(4); });
  l.run_until([&] { return fourth.expired(); });
  EXPECT_EQ(ran, (std::vector<int>{1, 4}));
}

// An action that re-arms its own deadline (as the relay's idle deadline does), and one that
// destroys the object holding its deadline.
TEST(Deadline, AnActionMayReArmOrDestroyItsOwnDeadline) {
  loop l;
  int turns = 0;
  deadline again(l.ex);
  std::function<void()> step = [&] {
    if (++turns < 3) again.arm(5ms, step);
  };
  again.arm(5ms, step);
  auto self = std::make_unique<deadline>(l.ex);
  bool destroyed = false;
  self->arm(10ms, [&] {
    self.reset();
    destroyed = true;
  });
  l.run_until([&] { return turns == 3 && destroyed; });
  EXPECT_EQ(turns, 3);
  EXPECT_TRUE(again.expired());
  EXPECT_TRUE(destroyed);
}

TEST(Deadline, ManyRunInTheOrderOfTheirTimes) {
  loop l;
  auto start = steady_clock::now();
  std::vector<std::unique_ptr<deadline>> ds;
  std::vector<steady_clock::duration> order;
  int left = 40;
  for (int i = 0; i < 40; ++i) {
    // 0, 47, 94, ... ms, out of order: multiples of 47 mod 40 visit every i once.
    auto after = std::chrono::milliseconds((i * 47) % 40 * 7);
    ds.push_back(std::make_unique<deadline>(l.ex));
    ds.back()->arm(start + after, [&, after] {
      EXPECT_GE(steady_clock::now() - start, after);
      order.push_back(after);
      --left;
    });
  }
  l.run_until([&] { return left == 0; });
  ASSERT_EQ(order.size(), 40u);
  // Deadlines of one 10 ms slot may run in any order; across slots, by time.
  for (std::size_t i = 1; i < order.size(); ++i)
    EXPECT_LE(order[i - 1], order[i] + 10ms) << i;
}

TEST(Deadline, ALoopWithNothingDueSleeps) {
  loop l;
  deadline far(l.ex);
  bool ran = false;
  far.arm(5s, [&] { ran = true; });
  net::executor_work_guard<net::io_context::executor_type> guard(l.ctx.get_executor());
  // Nothing is due for seconds: the loop runs no handler at all (no tick every 10 ms).
  EXPECT_EQ(l.ctx.run_for(150ms), 0u);
  EXPECT_FALSE(ran);
}

// The wheel's ring is 2048 slots of 10 ms: a deadline 20.58 s out shares its slot with ticks
// 100 ms from now, where it is passed over (a later turn), and it stays armed.
TEST(Deadline, AFarDeadlineWaitsForItsTurnOfTheRing) {
  loop l;
  deadline far(l.ex), near(l.ex);
  bool far_ran = false, near_ran = false;
  far.arm(20480ms + 100ms, [&] { far_ran = true; });
  near.arm(300ms, [&] { near_ran = true; });
  l.run_until([&] { return near_ran; });
  EXPECT_TRUE(near_ran);
  EXPECT_FALSE(far_ran);
  net::executor_work_guard<net::io_context::executor_type> guard(l.ctx.get_executor());
  EXPECT_EQ(l.ctx.run_for(100ms), 0u);
  EXPECT_FALSE(far_ran);
}

TEST(Deadline, EachLoopHasItsOwnWheel) {
  loop a, b;
  deadline da(a.ex), db(b.ex);
  bool ran_a = false, ran_b = false;
  da.arm(5ms, [&] { ran_a = true; });
  db.arm(5ms, [&] { ran_b = true; });
  a.run_until([&] { return ran_a; });
  EXPECT_TRUE(ran_a);
  EXPECT_FALSE(ran_b);
  b.run_until([&] { return ran_b; });
  EXPECT_TRUE(ran_b);
}

}  // namespace
}  // namespace ss
