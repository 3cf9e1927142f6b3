// The open-connection count and the drain's wait for zero: an event, not a poll.
#include "shadowsocks/runtime/connection_count.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace ss {
namespace {

TEST(ConnectionCount, WaiterRunsWhenTheLastConnectionEnds) {
  net::io_context control;
  connection_count open;
  int calls = 0;
  {
    active_guard a(open);
    active_guard b(open);
    EXPECT_EQ(open.value(), 2);
    open.when_zero(control.get_executor(), [&] { ++calls; });
    control.poll();
    EXPECT_EQ(calls, 0);  // two are still open
  }
  EXPECT_EQ(open.value(), 0);
  control.restart();
  control.poll();
  EXPECT_EQ(calls, 1);
  // Once only: a later connection coming and going wakes nobody.
  { active_guard c(open); }
  control.restart();
  control.poll();
  EXPECT_EQ(calls, 1);
}

TEST(ConnectionCount, HandingTheGuardOnCountsOnceWithoutAGap) {
  net::io_context control;
  connection_count open;
  int calls = 0;
  active_guard relay;  // counts nothing yet
  EXPECT_EQ(open.value(), 0);
  {
    active_guard accepted(open);
    open.when_zero(control.get_executor(), [&] { ++calls; });
    relay = std::move(accepted);  // the connection's start hands its count to its relay
    EXPECT_EQ(open.value(), 1);
  }
  control.poll();
  EXPECT_EQ(open.value(), 1);  // the start is gone, the relay still counts it
  EXPECT_EQ(calls, 0);
  active_guard moved(std::move(relay));
  EXPECT_EQ(open.value(), 1);
  moved = active_guard();  // released
  EXPECT_EQ(open.value(), 0);
  control.restart();
  control.poll();
  EXPECT_EQ(calls, 1);
}

TEST(ConnectionCount, WaiterRunsAtOnceWhenAlreadyZero) {
  net::io_context control;
  connection_count open;
  int calls = 0;
  open.when_zero(control.get_executor(), [&] { ++calls; });
  control.poll();
  EXPECT_EQ(calls, 1);
}

TEST(ConnectionCount, LastConnectionOnAnotherThreadWakesTheControlLoop) {
  net::io_context control;
  connection_count open;
  open.add();
  bool woke = false;
  open.when_zero(control.get_executor(), [&] { woke = true; });
  // A bound for a broken count, so that the test fails instead of hanging.
  net::steady_timer bound(control, std::chrono::seconds(30));
  bound.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) control.stop();
  });
  std::thread worker([&] { open.remove(); });
  control.run_one();  // the waiter (or the bound)
  worker.join();
  EXPECT_TRUE(woke);
}

}  // namespace
}  // namespace ss
