#pragma once
// Private to the core library: the Asio vocabulary of the async layers (relay, services, app).
// Kept out of the public headers so that codec and crypto users never compile Asio.

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
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

template <class T = void>
using awaitable = net::awaitable<T>;

/// Completion token: errors come back as the first tuple element, never as exceptions.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

/// Completion handler for spawned coroutines: logs an escaped exception (a broken invariant)
/// instead of letting it vanish.
void log_exception(std::exception_ptr e);

/// Completes after `d` (for the rare `op || sleep_for(d)` race, such as a DNS look-up).
awaitable<void> sleep_for(steady_clock::duration d);

/// A phase deadline: when it passes, `on_expiry` runs (it closes or cancels whatever the phase
/// is waiting on, which ends the pending operation). A plain timer with a callback: measured
/// cheaper per connection than racing each phase with `op || sleep_for(d)`, which spawns two
/// coroutines and a parallel group. Single-threaded, like the connection that owns it; the
/// callback never runs after `cancel`, a new `arm`, or destruction.
class deadline {
 public:
  /// A deadline on `ex` that is not armed.
  explicit deadline(const net::any_io_executor& ex) : timer_(ex) {}
  ~deadline() { cancel(); }
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  /// Runs `on_expiry` at `when` unless cancelled or re-armed first.
  void arm(steady_clock::time_point when, std::function<void()> on_expiry);
  /// Runs `on_expiry` after `d`.
  void arm(steady_clock::duration d, std::function<void()> on_expiry) {
    arm(steady_clock::now() + d, std::move(on_expiry));
  }
  /// Disarms.
  void cancel() noexcept;
  /// True when the last armed deadline passed (and its action ran).
  bool expired() const noexcept { return state_->expired; }

 private:
  // Shared with the pending handler, which may run after this object is gone (its wait had
  // already completed when the cancel came): it then sees a newer generation and does nothing.
  struct state {
    std::uint64_t generation = 0;
    bool expired = false;
  };
  net::steady_timer timer_;
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

/// The shared idle deadline of one relay: any read in either direction pushes it forward.
/// When it passes, `on_idle` runs (the relay closes its sockets). Timer callbacks only, no
/// coroutine; the timer is re-armed lazily, when it fires early, not on every read.
class idle_deadline {
 public:
  /// Not started yet.
  idle_deadline(const net::any_io_executor& ex, steady_clock::duration timeout)
      : timer_(ex), timeout_(timeout) {}
  /// Starts watching.
  void start(std::function<void()> on_idle);
  /// Activity seen: the deadline moves to now + timeout.
  void touch() noexcept { at_ = steady_clock::now() + timeout_; }
  /// True when the connection went idle and `on_idle` ran.
  bool fired() const noexcept { return timer_.expired(); }

 private:
  void wait();
  deadline timer_;
  steady_clock::duration timeout_;
  steady_clock::time_point at_{};
  std::function<void()> on_idle_;
};

/// Reads what is already there without waiting (recv with MSG_DONTWAIT: no mode switch, no
/// extra system call). `would_block` when nothing is; `eof` at the end of the stream.
std::size_t read_now(tcp::socket& s, mutable_bytes into, boost::system::error_code& ec);

/// Sends what the socket takes now, without waiting (sendmsg with MSG_DONTWAIT, at most 16
/// buffers): the number of bytes sent; `ec` is set (`would_block` when nothing went) only when
/// that is zero because of an error.
std::size_t write_now(tcp::socket& s, std::span<const net::const_buffer> data,
                      boost::system::error_code& ec);

/// Socket options every proxied TCP socket gets.
void tune_socket(tcp::socket& s, const config& c);
/// Enables TCP Fast Open on a socket about to connect (TCP_FASTOPEN_CONNECT, Linux >= 4.11).
void enable_fast_open_connect(tcp::socket& s);

/// The endpoint as "1.2.3.4:5" or "[::1]:5" for logs.
std::string to_string(const tcp::endpoint& ep);

/// Puts one address family first (IPv6 when `ipv6_first`, else IPv4), keeping the
/// resolver's order within each family.
void order_endpoints(std::vector<tcp::endpoint>& endpoints, bool ipv6_first);

/// Why ss-server must not send to `a` (the outbound guard), or nullptr when it may: always
/// nullptr with `outbound_allow_private`.
const char* outbound_refusal(const net::ip::address& a, const config& c);

/// Like `resolve`, but an IP literal costs nothing (no coroutine, no timer) and a name gets
/// at most `limit` (then `timed_out`).
awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve_within(
    const std::string& host, std::uint16_t port, bool ipv6_first, steady_clock::duration limit);

/// Resolves the name `host` for `port` with DNS, IPv6 first when `ipv6_first` (callers use
/// `resolve_within`, which also handles IP literals and the time limit).
awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve(
    std::string host, std::uint16_t port, bool ipv6_first);

/// Connects `s` to the first endpoint that accepts, trying them in order; returns the last
/// error. The caller bounds the time with a `deadline` that closes `s` (and then `expired`
/// stops the loop: the result is `timed_out`).
awaitable<boost::system::error_code> connect_any(tcp::socket& s,
                                                 const std::vector<tcp::endpoint>& endpoints,
                                                 const deadline& limit, const config& c);

}  // namespace ss
