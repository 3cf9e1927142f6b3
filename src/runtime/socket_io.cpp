#include "shadowsocks/runtime/socket_io.hpp"

#include <spdlog/spdlog.h>
#ifndef _WIN32
#include <netinet/in.h>
#include <netinet/tcp.h>
#endif

#include <array>
#include <atomic>
#include <cassert>
#include <cstring>

#include "shadowsocks/codec/ip_policy.hpp"

namespace ss {

void tune_socket(tcp::socket& s, const socket_options& o) {
  boost::system::error_code ignored;
  if (o.no_delay) s.set_option(tcp::no_delay(true), ignored);
}

namespace {

#ifndef _WIN32
#ifndef IPPROTO_MPTCP
constexpr int IPPROTO_MPTCP = 262;  // linux/in.h; glibc 2.36 does not have it
#endif

// A socket of `protocol`'s family with IPPROTO_MPTCP, or -1 when the kernel has no MPTCP
// (then warned about once per process).
int mptcp_socket(const tcp& protocol) {
  int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
  if (fd >= 0) return fd;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    spdlog::warn(
        "multipath TCP is not available here ({}; Linux 5.6+ with net.mptcp.enabled=1 "
        "has it): plain TCP",
        std::strerror(errno));
  }
  return -1;
}
#endif

template <class Socket>
void open_with(Socket& s, const tcp& protocol, bool mptcp, boost::system::error_code& ec) {
#ifndef _WIN32
  if (mptcp) {
    if (int fd = mptcp_socket(protocol); fd >= 0) {
      s.assign(protocol, fd, ec);
      if (ec) ::close(fd);
      return;
    }
  }
#else
  (void)mptcp;  // refused on Windows
#endif
  s.open(protocol, ec);
}

}  // namespace

void open_tcp(tcp::socket& s, const tcp& protocol, bool mptcp, boost::system::error_code& ec) {
  open_with(s, protocol, mptcp, ec);
}

void open_tcp(tcp::acceptor& a, const tcp& protocol, bool mptcp, boost::system::error_code& ec) {
  open_with(a, protocol, mptcp, ec);
}

#ifndef _WIN32

bool set_mark(platform::socket_handle fd, std::uint32_t mark) {
  return mark == 0 || ::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) == 0;
}

void enable_fast_open_connect(platform::socket_handle fd) {
#ifdef TCP_FASTOPEN_CONNECT
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
#endif
}
std::size_t read_now(tcp::socket& s, mutable_bytes into, boost::system::error_code& ec) {
  for (;;) {
    ssize_t n = ::recv(s.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
    if (n > 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      ec = into.empty() ? boost::system::error_code{} : net::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    ec = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

std::size_t write_now(tcp::socket& s, std::span<const net::const_buffer> data,
                      boost::system::error_code& ec) {
  std::array<iovec, 16> iov{};
  assert(data.size() <= iov.size());
  for (std::size_t i = 0; i < data.size(); ++i)
    iov[i] = {const_cast<void*>(data[i].data()), data[i].size()};  // sendmsg only reads
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = data.size();
  for (;;) {
    ssize_t n = ::sendmsg(s.native_handle(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

#else  // Windows: the same through Asio, on sockets in non-blocking mode (set at first use)

bool set_mark(platform::socket_handle, std::uint32_t mark) {
  return mark == 0;  // `mark` is refused on Windows
}

void enable_fast_open_connect(platform::socket_handle) {}

namespace {

template <class Socket>
bool make_non_blocking(Socket& s, boost::system::error_code& ec) {
  if (!s.non_blocking()) s.non_blocking(true, ec);
  return !ec;
}

}  // namespace

std::size_t read_now(tcp::socket& s, mutable_bytes into, boost::system::error_code& ec) {
  if (!make_non_blocking(s, ec)) return 0;
  return s.read_some(net::buffer(into.data(), into.size()), ec);
}

std::size_t write_now(tcp::socket& s, std::span<const net::const_buffer> data,
                      boost::system::error_code& ec) {
  if (!make_non_blocking(s, ec)) return 0;
  return s.write_some(data, ec);
}

#endif

awaitable<void> read_until_closed(tcp::socket& s) {
  std::array<std::uint8_t, 4096> sink{};
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(net::buffer(sink), use_nothrow);
    if (ec) co_return;
  }
}

// The UDP paths call recvfrom/sendto directly: a datagram is received or sent at once or not
// at all, so each one costs one system call and no trip through the scheduler (awaiting every
// send and receive as an Asio operation made us slower than libev per datagram).
#ifndef _WIN32
awaitable<std::pair<boost::system::error_code, std::size_t>> receive_datagram(udp::socket& s,
                                                                              mutable_bytes into,
                                                                              udp::endpoint& from) {
  for (;;) {
    udp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    ssize_t n =
        ::recvfrom(s.native_handle(), into.data(), into.size(), MSG_DONTWAIT, ep.data(), &len);
    if (n >= 0) {
      ep.resize(len);
      from = ep;
      co_return std::pair{boost::system::error_code{}, static_cast<std::size_t>(n)};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      co_return std::pair{boost::system::error_code(errno, boost::system::system_category()),
                          std::size_t{0}};
    }
    auto [wec] = co_await s.async_wait(udp::socket::wait_read, use_nothrow);
    if (wec) co_return std::pair{wec, std::size_t{0}};
  }
}

void send_now(udp::socket& s, bytes_view data, const udp::endpoint& to, const char* what) {
  for (;;) {
    ssize_t n = ::sendto(s.native_handle(), data.data(), data.size(), MSG_DONTWAIT, to.data(),
                         static_cast<socklen_t>(to.size()));
    if (n >= 0) return;
    if (errno == EINTR) continue;
    spdlog::debug("UDP datagram of {} bytes {} dropped: {}", data.size(), what,
                  std::strerror(errno));
    return;
  }
}

#else

awaitable<std::pair<boost::system::error_code, std::size_t>> receive_datagram(udp::socket& s,
                                                                              mutable_bytes into,
                                                                              udp::endpoint& from) {
  boost::system::error_code ec;
  if (!make_non_blocking(s, ec)) co_return std::pair{ec, std::size_t{0}};
  for (;;) {
    std::size_t n = s.receive_from(net::buffer(into.data(), into.size()), from, 0, ec);
    if (!ec) co_return std::pair{ec, n};
    // Windows reports an ICMP "port unreachable" for an earlier datagram as a reset of the
    // next receive: it is not this socket's end.
    if (ec == net::error::connection_reset || ec == net::error::connection_refused) continue;
    if (ec != net::error::would_block) co_return std::pair{ec, std::size_t{0}};
    auto [wec] = co_await s.async_wait(udp::socket::wait_read, use_nothrow);
    if (wec) co_return std::pair{wec, std::size_t{0}};
  }
}

void send_now(udp::socket& s, bytes_view data, const udp::endpoint& to, const char* what) {
  boost::system::error_code ec;
  if (make_non_blocking(s, ec)) s.send_to(net::buffer(data.data(), data.size()), to, 0, ec);
  if (ec) spdlog::debug("UDP datagram of {} bytes {} dropped: {}", data.size(), what, ec.message());
}

#endif

std::string to_string(const tcp::endpoint& ep) {
  // Appended piece by piece: `"[" + text` (a prepend) trips GCC 12's -Wrestrict at -O3, a
  // false positive inside libstdc++ (GCC bug 105329).
  std::string s;
  auto a = ep.address();
  if (a.is_v6()) s += '[';
  s += a.to_string();
  if (a.is_v6()) s += ']';
  s += ':';
  s += std::to_string(ep.port());
  return s;
}

std::string to_string(const udp::endpoint& ep) {
  return to_string(tcp::endpoint(ep.address(), ep.port()));
}

std::string address_bytes(const net::ip::address& a) {
  auto plain = plain_address(a);
  if (plain.is_v4()) {
    auto b = plain.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  auto b = plain.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

net::ip::address plain_address(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  }
  return a;
}

target_address to_target(const udp::endpoint& ep) {
  auto a = plain_address(ep.address());
  if (a.is_v4()) return target_address::ipv4(a.to_v4().to_bytes(), ep.port());
  return target_address::ipv6(a.to_v6().to_bytes(), ep.port());
}

target_address to_target(const tcp::endpoint& ep) {
  return to_target(udp::endpoint(ep.address(), ep.port()));
}

std::optional<udp::endpoint> to_endpoint(const target_address& t) {
  switch (t.type()) {
    case address_type::ipv4:
      return udp::endpoint(net::ip::address_v4(t.v4()), t.port());
    case address_type::ipv6:
      return udp::endpoint(net::ip::address_v6(t.v6()), t.port());
    case address_type::domain:
      return std::nullopt;
  }
  return std::nullopt;
}

const char* outbound_refusal(const net::ip::address& a, bool allow_private) {
  if (allow_private) return nullptr;
  return a.is_v4() ? non_public_reason(a.to_v4().to_bytes())
                   : non_public_reason(a.to_v6().to_bytes());
}

}  // namespace ss
