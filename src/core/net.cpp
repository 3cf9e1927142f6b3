#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "net.hpp"
#include "relay.hpp"
#include "services.hpp"
#include "shadowsocks/buffer_pool.hpp"
#include "shadowsocks/ip_policy.hpp"

namespace ss {

bool log_limiter::allow(std::uint64_t& suppressed) {
  std::lock_guard lock(mutex_);
  auto now = steady_clock::now();
  if (now - window_ >= 1s) {
    window_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++suppressed_;
    return false;
  }
  ++in_window_;
  suppressed = std::exchange(suppressed_, 0);
  return true;
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("a task ended by an unexpected error: {}", ex.what());
  }
}

awaitable<void> sleep_for(steady_clock::duration d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_nothrow);
}

void deadline::arm(steady_clock::time_point when, std::function<void()> on_expiry) {
  auto generation = ++state_->generation;
  state_->expired = false;
  timer_.expires_at(when);
  // cancel(), re-arming and destruction all move the generation on first, so a handler that
  // was already queued (its wait completed before the cancel) does nothing; it holds the state
  // block, never `this`, and calls `f` only while the owner is alive.
  timer_.async_wait(
      [st = state_, generation, f = std::move(on_expiry)](boost::system::error_code ec) {
        if (ec || generation != st->generation) return;
        st->expired = true;
        f();
      });
}

void deadline::cancel() noexcept {
  ++state_->generation;
  timer_.cancel();
}

void idle_deadline::start(std::function<void()> on_idle) {
  on_idle_ = std::move(on_idle);
  touch();
  wait();
}

void idle_deadline::wait() {
  timer_.arm(at_, [this] {
    // Activity moved the deadline on since the timer was set: wait for the new one.
    if (at_ > steady_clock::now()) {
      wait();
      return;
    }
    on_idle_();
  });
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

void tune_socket(tcp::socket& s, const config& c) {
  boost::system::error_code ignored;
  if (c.no_delay) s.set_option(tcp::no_delay(true), ignored);
}

void enable_fast_open_connect(tcp::socket& s) {
#ifdef TCP_FASTOPEN_CONNECT
  int one = 1;
  ::setsockopt(s.native_handle(), IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
#endif
}

std::string to_string(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(ep.port());
  return a.to_string() + ":" + std::to_string(ep.port());
}

void order_endpoints(std::vector<tcp::endpoint>& endpoints, bool ipv6_first) {
  // Stable: keeps the resolver's order within each family.
  std::stable_sort(endpoints.begin(), endpoints.end(), [ipv6_first](const auto& a, const auto& b) {
    bool a_first = a.address().is_v6() == ipv6_first;
    bool b_first = b.address().is_v6() == ipv6_first;
    return a_first && !b_first;
  });
}

const char* outbound_refusal(const net::ip::address& a, const config& c) {
  if (c.outbound_allow_private) return nullptr;
  return a.is_v4() ? non_public_reason(a.to_v4().to_bytes())
                   : non_public_reason(a.to_v6().to_bytes());
}

std::string peer_of(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : to_string(ep);
}

awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve(
    std::string host, std::uint16_t port, bool ipv6_first) {
  std::vector<tcp::endpoint> out;
  tcp::resolver resolver(co_await net::this_coro::executor);
  auto [rec, results] = co_await resolver.async_resolve(
      host, std::to_string(port), tcp::resolver::numeric_service, use_nothrow);
  if (rec) co_return std::pair{rec, std::move(out)};
  for (const auto& r : results)
    out.push_back(r.endpoint());
  order_endpoints(out, ipv6_first);
  co_return std::pair{boost::system::error_code{}, std::move(out)};
}

awaitable<std::pair<boost::system::error_code, std::vector<tcp::endpoint>>> resolve_within(
    const std::string& host, std::uint16_t port, bool ipv6_first, steady_clock::duration limit) {
  boost::system::error_code ec;
  auto literal = net::ip::make_address(host, ec);
  if (!ec) co_return std::pair{ec, std::vector<tcp::endpoint>{{literal, port}}};
  auto r = co_await (resolve(host, port, ipv6_first) || sleep_for(limit));
  if (r.index() == 1) {
    co_return std::pair{boost::system::error_code(net::error::timed_out),
                        std::vector<tcp::endpoint>{}};
  }
  co_return std::move(std::get<0>(r));
}

awaitable<boost::system::error_code> connect_any(tcp::socket& s,
                                                 const std::vector<tcp::endpoint>& endpoints,
                                                 const deadline& limit, const config& c) {
  boost::system::error_code last = net::error::host_not_found;
  for (const auto& ep : endpoints) {
    if (limit.expired()) co_return net::error::timed_out;
    boost::system::error_code ec;
    s.close(ec);
    s.open(ep.protocol(), ec);
    if (ec) {
      last = ec;
      continue;
    }
    if (c.fast_open) enable_fast_open_connect(s);
    auto [cec] = co_await s.async_connect(ep, use_nothrow);
    if (limit.expired()) co_return net::error::timed_out;
    last = cec;
    if (!last) {
      tune_socket(s, c);
      co_return last;
    }
  }
  co_return last;
}

namespace {

// Plaintext read per sealing round: three full chunks, so a bulk transfer is sealed in
// 0x3FFF-byte chunks and written with one write per read, and the result fits a pooled block.
constexpr std::size_t seal_read_size = 3 * max_payload_size;

bool is_closing(const boost::system::error_code& ec) {
  return ec == net::error::eof || ec == net::error::operation_aborted;
}

const char* describe(const boost::system::error_code& ec) {
  if (ec == net::error::connection_reset) return "reset";
  if (ec == net::error::broken_pipe) return "broken pipe";
  if (ec == net::error::operation_aborted) return "closed";
  if (ec == net::error::eof) return "closed";
  return "socket error";
}

// Ends both directions: closing the sockets makes the other pipe's pending operation finish.
void close_both(tcp::socket& a, tcp::socket& b) {
  boost::system::error_code ignored;
  a.close(ignored);
  b.close(ignored);
}

void half_close(tcp::socket& s) {
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
}

bool would_block(const boost::system::error_code& ec) {
  return ec == net::error::would_block || ec == net::error::try_again;
}

// Why a pipe ended on a read error: EOF half-closes the other side; anything else but our own
// cancellation closes both.
const char* read_ended(const boost::system::error_code& ec, tcp::socket& from, tcp::socket& to) {
  if (ec == net::error::eof) {
    half_close(to);
    return "closed";
  }
  if (!is_closing(ec)) close_both(from, to);
  return describe(ec);
}

// Both pipes read without waiting first (read_now). Only when nothing is there do they give their
// buffers back to the pool and wait for readability, so an idle relay holds no payload memory
// and a busy one does not allocate.

awaitable<const char*> seal_pipe(tcp::socket& from, tcp::socket& to, aead_stream_encoder& enc,
                                 idle_deadline& idle, std::uint64_t& count) {
  static_assert(
      seal_read_size + (seal_read_size / max_payload_size + 1) * chunk_overhead + max_salt_size <=
          pool_block_size,
      "one read must seal into one block");
  boost::system::error_code ec;
  for (;;) {
    pooled_block in = pooled_block::take();
    std::size_t n = read_now(from, {in.data(), seal_read_size}, ec);
    if (would_block(ec)) {
      in.reset();
      auto [wec] = co_await from.async_wait(tcp::socket::wait_read, use_nothrow);
      if (wec) co_return read_ended(wec, from, to);
      continue;
    }
    if (ec) co_return read_ended(ec, from, to);
    idle.touch();
    count += n;
    pooled_block out = pooled_block::take();
    auto m = enc.seal({in.data(), n}, out.span());
    in.reset();
    auto [wec, written] = co_await net::async_write(to, net::buffer(out.data(), m), use_nothrow);
    if (wec) {
      close_both(from, to);
      co_return describe(wec);
    }
  }
}

awaitable<const char*> open_pipe(tcp::socket& from, tcp::socket& to, aead_stream_decoder& dec,
                                 idle_deadline& idle, std::uint64_t& count, replay_filter* replay) {
  bool salt_checked = replay == nullptr;
  std::vector<net::const_buffer> out;
  out.reserve(8);
  boost::system::error_code ec;
  for (;;) {
    // Deliver every whole chunk buffered so far in one gather write.
    out.clear();
    std::size_t total = 0;
    for (;;) {
      auto d = dec.next();
      if (d.is_error()) {
        close_both(from, to);
        co_return "bad data";
      }
      if (d.needs_more()) break;
      if (!salt_checked) {
        salt_checked = true;
        if (replay->check_and_insert(dec.salt())) {
          close_both(from, to);
          co_return "replayed";
        }
      }
      if (!d.value.empty()) out.emplace_back(d.value.data(), d.value.size());
      total += d.value.size();
    }
    if (!out.empty()) {
      auto [wec, written] = co_await net::async_write(to, out, use_nothrow);
      if (wec) {
        close_both(from, to);
        co_return describe(wec);
      }
      count += total;
    }
    auto space = dec.prepare();
    std::size_t n = read_now(from, space, ec);
    if (would_block(ec)) {
      dec.release();  // keeps the buffer only while a partial chunk is in it
      auto [wec] = co_await from.async_wait(tcp::socket::wait_read, use_nothrow);
      if (wec) co_return read_ended(wec, from, to);
      continue;
    }
    if (ec) co_return read_ended(ec, from, to);
    idle.touch();
    dec.commit(n);
  }
}

}  // namespace

awaitable<relay_result> relay(tcp::socket& plain, tcp::socket& secure, aead_stream_encoder& enc,
                              aead_stream_decoder& dec, steady_clock::duration idle_timeout,
                              replay_filter* replay) {
  relay_result r;
  idle_deadline idle(plain.get_executor(), idle_timeout);
  // Idle in both directions for the timeout: closing the sockets ends both pipes.
  idle.start([&] { close_both(plain, secure); });
  auto [up, down] = co_await (seal_pipe(plain, secure, enc, idle, r.to_secure) &&
                              open_pipe(secure, plain, dec, idle, r.to_plain, replay));
  // The more telling of the two endings ("bad data" or "reset" over a plain "closed").
  r.ending = idle.fired() ? "idle timeout" : std::string_view(up) != "closed" ? up : down;
  close_both(plain, secure);
  co_return r;
}

}  // namespace ss
