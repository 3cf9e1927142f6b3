// Read-readiness waits without re-arm (runtime layer): woken by data, by EOF, by our own
// close; nothing called when the io_context goes away first. Loopback sockets only.
#include "shadowsocks/runtime/readiness.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/version.hpp>

namespace ss {
namespace {

// Two connected sockets; the context kept running between waits, as a worker's is.
struct connected_pair {
  explicit connected_pair(net::io_context& ctx) : a(ctx), b(ctx), guard(ctx.get_executor()) {
    tcp::acceptor acc(ctx, {net::ip::address_v4::loopback(), 0});
    a.connect(acc.local_endpoint());
    b = acc.accept();
  }
  tcp::socket a, b;
  net::executor_work_guard<net::io_context::executor_type> guard;
};

// Reads `s` until EAGAIN (the wait's precondition); the bytes read.
std::size_t drain(tcp::socket& s) {
  std::size_t total = 0;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

// Runs `ctx` until `w` has been called `n` times in all, or for at most two seconds.
template <typename W>
void run_until(net::io_context& ctx, const W& w, int n) {
  auto end = steady_clock::now() + 2s;
  while (w.calls < n && steady_clock::now() < end)
    ctx.run_one_for(50ms);
}

struct waiter {
  int calls = 0;
  boost::system::error_code last;
  read_readiness ready{&waiter::on_ready, this};
  static void on_ready(void* self, const boost::system::error_code& ec) {
    auto* w = static_cast<waiter*>(self);
    ++w->calls;
    w->last = ec;
  }
};

TEST(ReadReadiness, UsesTheReactorDirectlyOnDebian12sBoost) {
#if BOOST_VERSION / 100 == 1081
  EXPECT_TRUE(read_readiness::without_rearm());
#else
  GTEST_SKIP() << "another Boost: async_wait is used";
#endif
}

TEST(ReadReadiness, WokenByDataThenAgainAfterTheNextDrain) {
  net::io_context ctx;
  connected_pair p(ctx);
  waiter w;
  EXPECT_EQ(drain(p.b), 0U);
  w.ready.wait(p.b, nullptr);
  ctx.poll();
  EXPECT_EQ(w.calls, 0) << "nothing to read yet";
  net::write(p.a, net::buffer("hello", 5));
  run_until(ctx, w, 1);
  EXPECT_EQ(w.calls, 1);
  EXPECT_FALSE(w.last);
  EXPECT_EQ(drain(p.b), 5U);
  // Reused: the same wait object, the next data.
  w.ready.wait(p.b, nullptr);
  net::write(p.a, net::buffer("again", 5));
  run_until(ctx, w, 2);
  EXPECT_EQ(w.calls, 2);
  EXPECT_EQ(drain(p.b), 5U);
}

TEST(ReadReadiness, WokenByEof) {
  net::io_context ctx;
  connected_pair p(ctx);
  waiter w;
  drain(p.b);
  w.ready.wait(p.b, nullptr);
  p.a.shutdown(tcp::socket::shutdown_send);
  run_until(ctx, w, 1);
  EXPECT_EQ(w.calls, 1);
  char c = 0;
  EXPECT_EQ(::recv(p.b.native_handle(), &c, 1, MSG_DONTWAIT), 0) << "EOF for the next read";
}

TEST(ReadReadiness, ClosingTheSocketAbortsTheWait) {
  net::io_context ctx;
  connected_pair p(ctx);
  waiter w;
  drain(p.b);
  auto keep = std::make_shared<int>(1);
  w.ready.wait(p.b, keep);
  EXPECT_EQ(keep.use_count(), 2);
  p.b.close();
  run_until(ctx, w, 1);
  EXPECT_EQ(w.calls, 1);
  EXPECT_EQ(w.last, net::error::operation_aborted);
  EXPECT_EQ(keep.use_count(), 1) << "released with the callback";
}

TEST(ReadReadiness, DestroyedContextReleasesWithoutCalling) {
  waiter w;
  auto keep = std::make_shared<int>(1);
  {
    net::io_context ctx;
    {
      connected_pair p(ctx);
      drain(p.b);
      w.ready.wait(p.b, keep);
    }  // closed: the aborted wait is queued for completion, and never run
  }
  EXPECT_EQ(w.calls, 0);
  EXPECT_EQ(keep.use_count(), 1);
}

}  // namespace
}  // namespace ss
