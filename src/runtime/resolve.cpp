#include "shadowsocks/runtime/resolve.hpp"

#ifndef _WIN32
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cerrno>

#include "shadowsocks/runtime/dns.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/runtime/reactor_shortcuts.hpp"

namespace ss {

using net::experimental::awaitable_operators::operator||;

namespace {

#ifndef SS_NO_NSS
// DNS for a name (resolve_within handles literals and the time limit).
awaitable<resolved> resolve(std::string host, std::uint16_t port, bool ipv6_first) {
  std::vector<tcp::endpoint> out;
  tcp::resolver resolver(co_await net::this_coro::executor);
  auto [rec, results] = co_await resolver.async_resolve(
      host, std::to_string(port), tcp::resolver::numeric_service, use_nothrow);
  if (rec) co_return resolved{rec, std::move(out)};
  for (const auto& r : results)
    out.push_back(r.endpoint());
  order_endpoints(out, ipv6_first);
  co_return resolved{boost::system::error_code{}, std::move(out)};
}
#else
// Without glibc's NSS (the static build: cmake/ss_static.cmake), the system's resolver is
// c-ares reading /etc/hosts and /etc/resolv.conf (dns.hpp, with no name servers given).
awaitable<resolved> resolve(std::string host, std::uint16_t port, bool ipv6_first) {
  co_return co_await resolve_through("", host, port, ipv6_first);
}
#endif

}  // namespace

void order_endpoints(std::vector<tcp::endpoint>& endpoints, bool ipv6_first) {
  // Stable: keeps the resolver's order within each family.
  std::stable_sort(endpoints.begin(), endpoints.end(), [ipv6_first](const auto& a, const auto& b) {
    bool a_first = a.address().is_v6() == ipv6_first;
    bool b_first = b.address().is_v6() == ipv6_first;
    return a_first && !b_first;
  });
}

awaitable<resolved> resolve_within(const std::string& host, std::uint16_t port, bool ipv6_first,
                                   steady_clock::duration limit, const std::string& nameservers) {
  boost::system::error_code ec;
  auto literal = net::ip::make_address(host, ec);
  if (!ec) co_return resolved{ec, std::vector<tcp::endpoint>{{literal, port}}};
  // A look-up cannot be cancelled by closing a socket, so this one race stays `op || timer`.
  // Not `cond ? co_await x : co_await y`: GCC 12 destroys that temporary twice.
  std::variant<resolved, std::monostate> r;
  if (nameservers.empty()) {
    r = co_await (resolve(host, port, ipv6_first) || sleep_for(limit));
  } else {
    r = co_await (resolve_through(nameservers, host, port, ipv6_first) || sleep_for(limit));
  }
  if (r.index() == 1) {
    co_return resolved{boost::system::error_code(net::error::timed_out), {}};
  }
  co_return std::move(std::get<0>(r));
}

#ifndef _WIN32
namespace {

// A socket created non-blocking (no ioctl later), connected, and handed to Asio registered
// for writability: the connection is made when it is writable (reactor_shortcuts.hpp).
awaitable<boost::system::error_code> connect_nonblocking(tcp::socket& s, const tcp::endpoint& ep,
                                                         const socket_options& opts) {
  boost::system::error_code ec;
  int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return boost::system::error_code(errno, boost::system::system_category());
  if (!set_mark(fd, opts.mark)) {
    ec.assign(errno, boost::system::system_category());
    ::close(fd);
    co_return ec;
  }
  if (opts.fast_open) enable_fast_open_connect(fd);
  bool in_progress = false;
  if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    if (errno != EINPROGRESS) {
      ec.assign(errno, boost::system::system_category());
      ::close(fd);
      co_return ec;
    }
    in_progress = true;
  }
  adopt_socket(s, ep.protocol(), fd, ec, adopted::connecting);
  if (ec) {
    ::close(fd);
    co_return ec;
  }
  if (!in_progress) co_return ec;
  co_return co_await wait_connected(s);
}

}  // namespace
#endif

awaitable<boost::system::error_code> connect_any(tcp::socket& s,
                                                 const std::vector<tcp::endpoint>& endpoints,
                                                 const deadline& limit,
                                                 const socket_options& opts) {
  boost::system::error_code last = net::error::host_not_found;
  for (const auto& ep : endpoints) {
    if (limit.expired()) co_return net::error::timed_out;
    boost::system::error_code ec;
    s.close(ec);
    // Asio's connect for Multipath TCP, and on Windows (ConnectEx on the completion port).
    if (opts.mptcp || platform::windows_build) {
      open_tcp(s, ep.protocol(), opts.mptcp, ec);
      if (ec) {
        last = ec;
        continue;
      }
      if (!set_mark(s.native_handle(), opts.mark)) {
        last.assign(errno, boost::system::system_category());
        continue;
      }
      if (opts.fast_open) enable_fast_open_connect(s.native_handle());
      std::tie(last) = co_await s.async_connect(ep, use_nothrow);
    } else {
#ifndef _WIN32
      last = co_await connect_nonblocking(s, ep, opts);
#endif
    }
    if (limit.expired()) co_return net::error::timed_out;
    if (!last) {
      tune_socket(s, opts);
      co_return last;
    }
  }
  co_return last;
}

}  // namespace ss
