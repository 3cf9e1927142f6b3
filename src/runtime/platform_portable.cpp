// The portable side of platform.hpp (-DSS_PORTABLE=ON): what any POSIX system has. No service
// manager to tell, a connect probe for a listening port, a child that may outlive us, its exit
// found by polling waitpid, and no transparent sockets (ss-redir's REDIRECT and TPROXY modes).
#if defined(SS_PORTABLE) && !defined(_WIN32)  // else platform_linux.cpp

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "shadowsocks/runtime/platform.hpp"

namespace ss::platform {

namespace {

// How often a watched child is asked whether it has exited.
constexpr std::chrono::milliseconds exit_poll_interval{100};

// True when a TCP connection to `at` is accepted (the probe is closed at once).
bool accepts(const tcp::endpoint& at) {
  net::io_context ioc;
  tcp::socket probe(ioc);
  boost::system::error_code ec;
  probe.connect(at, ec);
  return !ec;
}

}  // namespace

void notify_service_manager(const std::string& state) {
  // sd_notify is systemd's: a system without it has no service manager that listens.
  spdlog::debug("no service manager in this build: not told {}", state.substr(0, state.find('\n')));
}

// Without a table of the system's sockets to read, a connection to the port on the loopback
// addresses tells: the plugin sees one connection that closes at once.
bool tcp_port_listening(std::uint16_t port) {
  return accepts({net::ip::address_v4::loopback(), port}) ||
         accepts({net::ip::address_v6::loopback(), port});
}

bool end_with_parent(pid_t parent) noexcept {
  // Nothing makes the child end with us; it is still ours while the parent lives.
  return ::getppid() == parent;
}

struct exit_watch::state {
  net::steady_timer timer;
  pid_t pid;
  std::function<void(int status)> exited;
};

namespace {

// Asks waitpid about the watched child every `exit_poll_interval`, on the context's thread,
// until it has exited or the watch is cancelled (the state gone).
void poll_exit(const std::shared_ptr<exit_watch::state>& st) {
  st->timer.expires_after(exit_poll_interval);
  st->timer.async_wait([weak = std::weak_ptr(st)](const boost::system::error_code& ec) {
    auto st = weak.lock();
    if (ec || !st) return;  // cancelled
    int status = 0;
    pid_t got = ::waitpid(st->pid, &status, WNOHANG);
    if (got == st->pid) return st->exited(status);
    if (got < 0 && errno != EINTR) return;  // not our child any more
    poll_exit(st);
  });
}

}  // namespace

result<void, problem> exit_watch::start(pid_t pid, std::function<void(int status)> exited) {
  st_ = std::make_shared<state>(state{net::steady_timer(ctx_), pid, std::move(exited)});
  poll_exit(st_);
  return {};
}

std::optional<tcp::endpoint> redirected_destination(tcp::socket&, const tcp::endpoint&) {
  return std::nullopt;  // no connection tracker to ask
}

std::error_code make_transparent(socket_handle, bool, bool) {
  return std::make_error_code(std::errc::operation_not_supported);
}

ssize_t receive_with_destination(socket_handle fd, mutable_bytes into, udp::endpoint& from,
                                 std::optional<udp::endpoint>& to) {
  to.reset();
  auto len = static_cast<socklen_t>(from.capacity());
  ssize_t got = ::recvfrom(fd, into.data(), into.size(), MSG_DONTWAIT, from.data(), &len);
  if (got >= 0) from.resize(len);
  return got;
}

}  // namespace ss::platform

#endif  // SS_PORTABLE
