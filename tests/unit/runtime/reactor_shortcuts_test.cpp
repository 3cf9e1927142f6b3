// Read-readiness waits without re-arm (runtime layer): woken by data, by EOF, by our own
// close; nothing called when the io_context goes away first. Loopback sockets only.
#include "shadowsocks/runtime/reactor_shortcuts.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/version.hpp>
#include <string>
#include <thread>

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

TEST(WaitDrained, ACoroutineWaitsForTheNextData) {
  net::io_context ctx;
  connected_pair p(ctx);
  int stage = 0;
  boost::system::error_code result = net::error::timed_out;
  net::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        drain(p.b);
        stage = 1;
        result = co_await wait_drained(p.b);
        stage = 2;
      },
      net::detached);
  ctx.poll();
  EXPECT_EQ(stage, 1) << "waiting";
  net::write(p.a, net::buffer("x", 1));
  auto end = steady_clock::now() + 2s;
  while (stage < 2 && steady_clock::now() < end)
    ctx.run_one_for(50ms);
  EXPECT_EQ(stage, 2);
  EXPECT_FALSE(result);
  EXPECT_EQ(drain(p.b), 1U);
}

TEST(AdoptSocket, NonBlockingUnderneathYetSynchronousCallsStillWait) {
  net::io_context ctx;
  tcp::acceptor acc(ctx, {net::ip::address_v4::loopback(), 0});
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  tcp::socket s(ctx);
  boost::system::error_code ec;
  adopt_socket(s, tcp::v4(), fd, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(s.native_handle(), fd);
  EXPECT_FALSE(s.non_blocking()) << "not the user's choice: Asio's synchronous calls wait";
  s.connect(acc.local_endpoint(), ec);  // synchronous: waits for the connection
  ASSERT_FALSE(ec) << ec.message();
  tcp::socket peer = acc.accept();
  std::thread later([&peer] {
    std::this_thread::sleep_for(100ms);
    net::write(peer, net::buffer("late", 4));
  });
  char buf[4];
  std::size_t n = net::read(s, net::buffer(buf), ec);  // waits for the late bytes
  later.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, n), "late");
}

}  // namespace
}  // namespace ss
