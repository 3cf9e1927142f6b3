// The platform seam (runtime layer) as this build has it: the service manager's datagram,
// listening-port readiness and a child's exit. Loopback and our own children only.
#include "shadowsocks/runtime/platform.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace ss {
namespace {

TEST(ServiceManager, OneDatagramToAnAbstractNotifySocket) {
  if (platform::portable_build) GTEST_SKIP() << "the portable build tells no service manager";
  // systemd names an abstract socket with a leading '@' (a path is covered by
  // tests/integration/test_operations.py).
  std::string name = "@ss-notify-test-" + std::to_string(::getpid());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())),
            0);
  ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  platform::notify_service_manager("READY=1\nSTATUS=serving");
  ::unsetenv("NOTIFY_SOCKET");
  char buf[128] = {};
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  ::close(fd);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "READY=1\nSTATUS=serving");
}

TEST(ServiceManager, NothingWithoutANotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  platform::notify_service_manager("READY=1");  // no crash, no error: not run by systemd
}

TEST(ListeningPorts, AListenerIsSeenAndItsCloseToo) {
  net::io_context ctx;
  tcp::acceptor v4(ctx, {net::ip::address_v4::loopback(), 0});
  auto port = v4.local_endpoint().port();
  EXPECT_TRUE(platform::tcp_port_listening(port));
  v4.close();
  EXPECT_FALSE(platform::tcp_port_listening(port));
  tcp::acceptor v6(ctx);
  boost::system::error_code ec;
  v6.open(tcp::v6(), ec);
  if (!ec) v6.bind({net::ip::address_v6::loopback(), 0}, ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback";
  v6.listen();
  EXPECT_TRUE(platform::tcp_port_listening(v6.local_endpoint().port()));
}

TEST(ChildProcesses, AnExitIsToldWithItsStatus) {
  net::io_context ctx;
  platform::exit_watch watch(ctx);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::usleep(50'000);
    ::_exit(7);
  }
  std::optional<int> status;
  ASSERT_TRUE(watch.start(child, [&](int s) { status = s; }));
  ctx.run_for(std::chrono::seconds(10));  // returns once the watch is done
  ASSERT_TRUE(status) << "the exit was not told";
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 7);
  EXPECT_EQ(::waitpid(child, nullptr, WNOHANG), -1) << "reaped already";
}

TEST(ChildProcesses, ACancelledWatchTellsNothing) {
  net::io_context ctx;
  platform::exit_watch watch(ctx);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  bool told = false;
  ASSERT_TRUE(watch.start(child, [&](int) { told = true; }));
  watch.cancel();
  ctx.run_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(told);
  ::waitpid(child, nullptr, 0);
}

TEST(ChildProcesses, AChildEndsWithItsParent) {
  if (platform::portable_build) GTEST_SKIP() << "nothing ends a child with its parent there";
  // A middle process forks a grandchild that asks to end with it, then the middle one is
  // killed: the grandchild must go too. It reports its pid through a pipe.
  // We adopt the orphaned grandchild (else whatever process 1 is here would), to reap it.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t middle = ::fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    pid_t parent = ::getpid();
    pid_t grandchild = ::fork();
    if (grandchild == 0) {
      if (!platform::end_with_parent(parent)) ::_exit(1);
      for (;;)
        ::pause();
    }
    (void)!::write(p[1], &grandchild, sizeof grandchild);
    for (;;)
      ::pause();
  }
  ::close(p[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(p[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  ::close(p[0]);
  ::usleep(100'000);  // the grandchild has made its call
  ::kill(middle, SIGKILL);
  ::waitpid(middle, nullptr, 0);
  int status = 0;
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {  // up to 2 s
    gone = ::waitpid(grandchild, &status, WNOHANG) == grandchild;
    if (!gone) ::usleep(10'000);
  }
  if (!gone) {
    ::kill(grandchild, SIGKILL);
    ::waitpid(grandchild, nullptr, 0);
  }
  ASSERT_TRUE(gone) << "the grandchild outlived its parent";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

TEST(TransparentSockets, AConnectionNotRedirectedHasNoOriginalDestination) {
  net::io_context ctx;
  tcp::acceptor acc(ctx, {net::ip::address_v4::loopback(), 0});
  tcp::socket client(ctx);
  client.connect(acc.local_endpoint());
  tcp::socket served = acc.accept();
  EXPECT_FALSE(platform::redirected_destination(served, client.local_endpoint()));
}

TEST(TransparentSockets, ARefusalSaysWhy) {
  EXPECT_TRUE(platform::make_transparent(-1, false, true)) << "not a socket";
}

TEST(TransparentSockets, ADatagramWithoutTproxyHasItsSenderAndNoDestination) {
  net::io_context ctx;
  udp::socket rx(ctx, {net::ip::address_v4::loopback(), 0});
  udp::socket tx(ctx, {net::ip::address_v4::loopback(), 0});
  std::array<std::uint8_t, 64> buf{};
  udp::endpoint from;
  std::optional<udp::endpoint> to;
  errno = 0;
  EXPECT_EQ(platform::receive_with_destination(rx.native_handle(), buf, from, to), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << "nothing there: no wait";
  tx.send_to(net::buffer("hello", 5), rx.local_endpoint());
  ssize_t n = -1;
  for (int i = 0; i < 200 && n < 0; ++i) {  // loopback delivers at once; bounded all the same
    n = platform::receive_with_destination(rx.native_handle(), buf, from, to);
    if (n < 0) ::usleep(5'000);
  }
  EXPECT_EQ(n, 5);
  EXPECT_EQ(from, tx.local_endpoint());
  EXPECT_FALSE(to) << "only a TPROXY socket says where a datagram was going";
}

}  // namespace
}  // namespace ss
