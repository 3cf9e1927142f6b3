#pragma once
// Private to the core library: the Asio vocabulary of the async layers (relay, services, app).
// Kept out of the public headers so that codec and crypto users never compile Asio.

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "shadowsocks/address.hpp"
#include "shadowsocks/config.hpp"

namespace ss {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using udp = net::ip::udp;
using steady_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using net::experimental::awaitable_operators::operator||;
using net::experimental::awaitable_operators::operator&&;

template <class T = void>
using awaitable = net::awaitable<T>;

/// Completion token: errors come back as the first tuple element, never as exceptions.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// Completion handler for spawned coroutines: logs an escaped exception (a broken invariant)
/// instead of letting it vanish.
void log_exception(std::exception_ptr e);

/// Completes after `d` (a phase deadline racing another operation with `||`).
awaitable<void> sleep_for(steady_clock::duration d);

/// The shared idle deadline of one relay: any read in either direction pushes it forward.
class idle_deadline {
 public:
  /// A deadline `timeout` from now.
  explicit idle_deadline(steady_clock::duration timeout)
      : timeout_(timeout), at_(steady_clock::now() + timeout) {}
  /// Activity seen: the deadline moves to now + timeout.
  void touch() noexcept { at_ = steady_clock::now() + timeout_; }
  /// Completes once the deadline passes without activity.
  awaitable<void> watch();

 private:
  steady_clock::duration timeout_;
  steady_clock::time_point at_;
};

/// Socket options every proxied TCP socket gets.
void tune_socket(tcp::socket& s, const config& c);
/// Enables TCP Fast Open on a socket about to connect (TCP_FASTOPEN_CONNECT, Linux >= 4.11).
void enable_fast_open_connect(tcp::socket& s);

/// The endpoint as "1.2.3.4:5" or "[::1]:5" for logs.
std::string to_string(const tcp::endpoint& ep);

/// The socket's peer for logs, "?" when it is gone.
std::string peer_of(const tcp::socket& s);

/// Puts one address family first (IPv6 when `ipv6_first`, else IPv4), keeping the
/// resolver's order within each family.
void order_endpoints(std::vector<tcp::endpoint>& endpoints, bool ipv6_first);

/// Why ss-server must not send to `a` (the outbound guard), or nullptr when it may: always
/// nullptr with `outbound_allow_private`.
const char* outbound_refusal(const net::ip::address& a, const config& c);

/// Resolves `host` (an IP literal or a name) for `port`, IPv6 first when `ipv6_first`.
awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve(
    std::string host, std::uint16_t port, bool ipv6_first);

/// Connects `s` to the first endpoint that accepts, within `deadline`. Returns the last
/// error, or `timed_out`.
awaitable<boost::system::error_code> connect_any(tcp::socket& s,
                                                 const std::vector<tcp::endpoint>& endpoints,
                                                 steady_clock::duration deadline, const config& c);

}  // namespace ss
