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
#if defined(SS_PORTABLE)
  EXPECT_FALSE(read_readiness::without_rearm()) << "the portable build uses async_wait";
#elif BOOST_VERSION / 100 == 1081
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

// Two connected sockets made as the daemons make theirs: created non-blocking, the client's
// adopted as connecting after connect(), the server's accepted with accept4 and adopted.
struct adopted_pair {
  explicit adopted_pair(net::io_context& ctx) : a(ctx), b(ctx), guard(ctx.get_executor()) {
    tcp::acceptor acc(ctx, {net::ip::address_v4::loopback(), 0});
    auto ep = acc.local_endpoint();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
    EXPECT_TRUE(r == 0 || errno == EINPROGRESS);
    boost::system::error_code ec;
    adopt_socket(a, tcp::v4(), fd, ec, adopted::connecting);
    EXPECT_FALSE(ec);
    int accepted = -1;
    for (int i = 0; i < 200 && accepted < 0; ++i) {
      accepted = ::accept4(acc.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (accepted < 0) std::this_thread::sleep_for(5ms);
    }
    EXPECT_GE(accepted, 0);
    adopt_socket(b, tcp::v4(), accepted, ec);
    EXPECT_FALSE(ec);
  }
  tcp::socket a, b;
  net::executor_work_guard<net::io_context::executor_type> guard;
};

TEST(ReadReadiness, SaysWhetherTheReportThatWokeItHadAFin) {
  if (!read_readiness::without_rearm()) GTEST_SKIP() << "another Boost: async_wait is used";
  net::io_context ctx;
  adopted_pair p(ctx);
  waiter w;
  // Data alone: a short read after this wake leaves the socket drained.
  EXPECT_EQ(drain(p.b), 0U);
  w.ready.wait(p.b, nullptr);
  net::write(p.a, net::buffer("data", 4));
  run_until(ctx, w, 1);
  ASSERT_EQ(w.calls, 1);
  EXPECT_TRUE(w.ready.woke_without_fin());
  EXPECT_EQ(drain(p.b), 4U);
  // Data and the FIN before the report: the report says so (the next read must be made).
  w.ready.wait(p.b, nullptr);
  net::write(p.a, net::buffer("last", 4));
  p.a.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(20ms);  // both in b's receive queue before the reactor looks
  run_until(ctx, w, 2);
  ASSERT_EQ(w.calls, 2);
  EXPECT_FALSE(w.ready.woke_without_fin());
}

// The case the short read relies on: a FIN that comes after the report (here, before the
// read) raises an edge of its own, so a wait made after the short read still ends.
TEST(ReadReadiness, AFinAfterTheReportWakesTheNextWait) {
  if (!read_readiness::without_rearm()) GTEST_SKIP() << "another Boost: async_wait is used";
  net::io_context ctx;
  adopted_pair p(ctx);
  waiter w;
  drain(p.b);
  w.ready.wait(p.b, nullptr);
  net::write(p.a, net::buffer("data", 4));
  run_until(ctx, w, 1);
  ASSERT_TRUE(w.ready.woke_without_fin());
  p.a.shutdown(tcp::socket::shutdown_send);
  std::this_thread::sleep_for(20ms);
  char buf[64];
  EXPECT_EQ(::recv(p.b.native_handle(), buf, sizeof buf, MSG_DONTWAIT), 4) << "short read";
  w.ready.wait(p.b, nullptr);  // no read to EAGAIN (or to EOF) first
  run_until(ctx, w, 2);
  EXPECT_EQ(w.calls, 2) << "the FIN must wake the wait";
  EXPECT_EQ(::recv(p.b.native_handle(), buf, sizeof buf, MSG_DONTWAIT), 0);
}

// connect() then wait_connected: made (no error) or refused, both without SO_ERROR on the
// short path; closing the socket ends the wait.
awaitable<boost::system::error_code> connect_to(tcp::socket& s, const tcp::endpoint& ep) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int r = ::connect(fd, ep.data(), static_cast<socklen_t>(ep.size()));
  int err = r == 0 ? 0 : errno;
  boost::system::error_code ec;
  adopt_socket(s, tcp::v4(), fd, ec, adopted::connecting);
  if (ec) co_return ec;
  if (err == 0) co_return ec;
  if (err != EINPROGRESS)
    co_return boost::system::error_code(err, boost::system::system_category());
  co_return co_await wait_connected(s);
}

boost::system::error_code run_connect(net::io_context& ctx, tcp::socket& s,
                                      const tcp::endpoint& ep) {
  boost::system::error_code result = net::error::timed_out;
  bool done = false;
  ctx.restart();  // it stops when it runs out of work
  net::co_spawn(
      ctx,
      [&]() -> awaitable<void> {
        result = co_await connect_to(s, ep);
        done = true;
      },
      net::detached);
  auto end = steady_clock::now() + 2s;
  while (!done && steady_clock::now() < end)
    ctx.run_one_for(50ms);
  return result;
}

TEST(WaitConnected, MadeOrRefused) {
  net::io_context ctx;
  tcp::acceptor acc(ctx, {net::ip::address_v4::loopback(), 0});
  tcp::socket s(ctx);
  auto ec = run_connect(ctx, s, acc.local_endpoint());
  EXPECT_FALSE(ec) << ec.message();
  tcp::socket peer = acc.accept();
  net::write(s, net::buffer("hi", 2));
  char buf[2];
  EXPECT_EQ(net::read(peer, net::buffer(buf)), 2U);

  tcp::endpoint closed;
  {
    tcp::acceptor gone(ctx, {net::ip::address_v4::loopback(), 0});
    closed = gone.local_endpoint();
  }
  tcp::socket refused(ctx);
  EXPECT_EQ(run_connect(ctx, refused, closed), net::error::connection_refused);
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
