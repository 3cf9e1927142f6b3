// Linux's side of platform.hpp: sd_notify's datagram, /proc/net/tcp, PR_SET_PDEATHSIG, a
// pidfd, and netfilter's original destinations with IP_TRANSPARENT.
// The portable build has platform_portable.cpp instead, Windows platform_windows.cpp.
#if !defined(SS_PORTABLE) && !defined(_WIN32)

#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "shadowsocks/runtime/platform.hpp"

namespace ss::platform {

// sd_notify(3)'s protocol, which is all we used libsystemd for (linking it loaded it and five
// compression and crypto libraries into every process): one datagram with the state lines to
// the Unix socket named by $NOTIFY_SOCKET, a path or, with a leading '@', an abstract name.
void notify_service_manager(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;  // not run by systemd (or not Type=notify)
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
    spdlog::warn("cannot notify systemd: NOTIFY_SOCKET is not a socket path or abstract name");
    return;
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0) {
    spdlog::warn("cannot notify systemd: {}", std::strerror(errno));
  }
  if (fd >= 0) ::close(fd);
}

namespace {

// Lines of /proc/net/tcp{,6}: "sl local_address rem_address st ...", the local address as
// hex "ADDR:PORT" and st 0A for LISTEN.
bool listening_in(const char* table, std::uint16_t port) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    char local[64] = {};
    char remote[64] = {};
    unsigned state = 0;
    if (std::sscanf(line.c_str(), " %*u: %63s %63s %x", local, remote, &state) != 3) continue;
    const char* colon = std::strrchr(local, ':');
    if (colon != nullptr && state == 0x0A && std::strtoul(colon + 1, nullptr, 16) == port) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool tcp_port_listening(std::uint16_t port) {
  return listening_in("/proc/net/tcp", port) || listening_in("/proc/net/tcp6", port);
}

bool end_with_parent(pid_t parent) noexcept {
  // If the parent dies, the kernel kills the child: none outlives it, even after its SIGKILL.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  return ::getppid() == parent;  // else it died before the prctl
}

struct exit_watch::state {
  net::posix::stream_descriptor pidfd;
};

result<void, problem> exit_watch::start(pid_t pid, std::function<void(int status)> exited) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return problem{std::strerror(errno)};
  st_ = std::make_shared<state>(state{net::posix::stream_descriptor(ctx_, fd)});
  // A pidfd turns readable when the process exits; closing it (cancel) ends the wait.
  st_->pidfd.async_wait(net::posix::descriptor_base::wait_read,
                        [pid, exited = std::move(exited)](const boost::system::error_code& ec) {
                          if (ec) return;  // cancelled
                          int status = 0;
                          ::waitpid(pid, &status, 0);
                          exited(status);
                        });
  return {};
}

namespace {

// SO_ORIGINAL_DST of <linux/netfilter_ipv4.h> and IP6T_SO_ORIGINAL_DST of
// <linux/netfilter_ipv6/ip6_tables.h> (both 80): those headers clash with glibc's.
constexpr int so_original_dst = 80;

}  // namespace

// An IPv6 socket asks IPv6's connection tracker first, then IPv4's for a mapped peer.
std::optional<tcp::endpoint> redirected_destination(tcp::socket& s, const tcp::endpoint& peer) {
  tcp::endpoint ep;
  int fd = s.native_handle();
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (peer.address().is_v6() && ::getsockopt(fd, SOL_IPV6, so_original_dst, ep.data(), &len) == 0) {
    ep.resize(len);
    return ep;
  }
  len = static_cast<socklen_t>(ep.capacity());
  if (::getsockopt(fd, SOL_IP, so_original_dst, ep.data(), &len) == 0) {
    ep.resize(len);
    return ep;
  }
  return std::nullopt;
}

std::error_code make_transparent(socket_handle fd, bool v6, bool udp) {
  int one = 1;
  auto set = [&](int level, int option) {
    return ::setsockopt(fd, level, option, &one, sizeof one) == 0;
  };
  if (!set(v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT) ||
      (udp && !set(v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR))) {
    return {errno, std::system_category()};
  }
  return {};
}

// TPROXY keeps a datagram's destination in IP_ORIGDSTADDR / IPV6_ORIGDSTADDR. The control
// buffer is a local of a plain function: it must be aligned for cmsghdr, which GCC 12 does not
// do for an alignas local in a coroutine frame.
ssize_t receive_with_destination(socket_handle fd, mutable_bytes into, udp::endpoint& from,
                                 std::optional<udp::endpoint>& to) {
  alignas(cmsghdr) std::array<char, 256> control{};
  iovec iov{into.data(), into.size()};
  msghdr msg{};
  msg.msg_name = from.data();
  msg.msg_namelen = static_cast<socklen_t>(from.capacity());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t got = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  if (got < 0) return got;
  from.resize(msg.msg_namelen);
  to.reset();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    bool v4 = c->cmsg_level == SOL_IP && c->cmsg_type == IP_ORIGDSTADDR;
    bool v6 = c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_ORIGDSTADDR;
    if (!v4 && !v6) continue;
    udp::endpoint ep;
    std::size_t size = v4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    std::memcpy(ep.data(), CMSG_DATA(c), size);
    ep.resize(size);
    to = ep;
  }
  return got;
}

}  // namespace ss::platform

#endif  // Linux
