#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <array>
#include <cassert>

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
// Reads and writes one direction of a relay does in a row before it lets the other
// connections of its worker run (16 full rounds move about 0.75 MiB).
constexpr int rounds_per_turn = 16;

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

// The relay of one proxied connection, driven by completion callbacks rather than coroutines:
// once the handshake coroutine hands the two sockets over and returns, an idle connection is
// this object, its two cipher contexts and two pending readiness waits, and nothing else (no
// suspended coroutine frames, no payload buffer). Measured in docs/performance.md.
//
// Both directions read without waiting first (read_now). Only when nothing is there do they
// give their buffers back to the pool and wait for readability, so an idle relay holds no
// payload memory and a busy one does not allocate. Single-threaded: everything runs on the
// sockets' executor (one worker's io_context).
class relay_session : public std::enable_shared_from_this<relay_session> {
 public:
  relay_session(tcp::socket plain, tcp::socket secure, aead_stream_encoder enc,
                aead_stream_decoder dec, std::shared_ptr<service_context> ctx, bool check_replay,
                relay_log log)
      : plain_(std::move(plain)),
        secure_(std::move(secure)),
        enc_(std::move(enc)),
        dec_(std::move(dec)),
        ctx_(std::move(ctx)),
        guard_(ctx_->active),
        idle_(plain_.get_executor(), ctx_->cfg.timeout),
        salt_checked_(!check_replay),
        log_(std::move(log)) {}

  void start() {
    // Idle in both directions for the timeout: closing the sockets ends both directions.
    idle_.start([this] { close_both(plain_, secure_); });
    seal_step();
    open_step();
  }

 private:
  static_assert(seal_read_size + (seal_read_size / max_payload_size + 1) * chunk_overhead +
                        max_salt_size <=
                    pool_block_size,
                "one read must seal into one block");

  // plain -> secure: read what is there, seal it into one block, write it with one call. The
  // write is tried at once (write_now); only what the socket does not take goes through Asio,
  // whose completion would otherwise cost a trip through the scheduler for every write.
  void seal_step() {
    boost::system::error_code ec;
    for (int round = 0;; ++round) {
      // A short read emptied the socket's queue: wait rather than read again only to hear
      // EAGAIN (new data makes a new readiness event, so nothing is missed).
      if (std::exchange(plain_drained_, false)) return wait_plain();
      if (round == rounds_per_turn) return take_turns(&relay_session::seal_step);
      pooled_block in = pooled_block::take();
      std::size_t n = read_now(plain_, {in.data(), seal_read_size}, ec);
      if (would_block(ec)) return wait_plain();
      if (ec) return ended(up_, read_ended(ec, plain_, secure_));
      plain_drained_ = n < seal_read_size;
      idle_.touch();
      result_.to_secure += n;
      pooled_block out = pooled_block::take();
      auto m = enc_.seal({in.data(), n}, out.span());
      in.reset();
      net::const_buffer sealed(out.data(), m);
      std::size_t sent = write_now(secure_, {&sealed, 1}, ec);
      if (sent == m) continue;
      if (ec && !would_block(ec)) {
        close_both(plain_, secure_);
        return ended(up_, describe(ec));
      }
      sealed_ = std::move(out);  // the rest when the socket takes it
      net::async_write(
          secure_, net::buffer(sealed_.data() + sent, m - sent),
          [self = shared_from_this()](const boost::system::error_code& wec, std::size_t) {
            self->sealed_.reset();
            if (wec) {
              close_both(self->plain_, self->secure_);
              return self->ended(self->up_, describe(wec));
            }
            self->seal_step();
          });
      return;
    }
  }

  // After `rounds_per_turn` reads and writes in a row, the rest of the worker's connections
  // get their turn before this direction goes on.
  void take_turns(void (relay_session::*step)()) {
    net::post(plain_.get_executor(), [self = shared_from_this(), step] { ((*self).*step)(); });
  }

  void wait_plain() {
    plain_.async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& wec) {
          if (wec) {
            return self->ended(self->up_, read_ended(wec, self->plain_, self->secure_));
          }
          self->seal_step();
        });
  }

  // secure -> plain: deliver the whole chunks buffered so far in one gather write (at most
  // `opened_.size()` of them per write), else read more into the decoder's buffer.
  void open_step() {
    boost::system::error_code ec;
    int rounds = 0;
    for (;;) {
      std::size_t count = 0;
      std::size_t total = 0;
      while (count < opened_.size()) {
        auto d = dec_.next();
        if (d.is_error()) {
          close_both(plain_, secure_);
          return ended(down_, "bad data");
        }
        if (d.needs_more()) break;
        if (!salt_checked_) {
          salt_checked_ = true;
          if (ctx_->replay.check_and_insert(dec_.salt())) {
            close_both(plain_, secure_);
            return ended(down_, "replayed");
          }
        }
        if (!d.value.empty()) opened_[count++] = net::const_buffer(d.value.data(), d.value.size());
        total += d.value.size();
      }
      if (count > 0) {
        // As in seal_step: at once if the socket takes it all, else the rest through Asio.
        std::span<net::const_buffer> out(opened_.data(), count);
        std::size_t sent = write_now(plain_, out, ec);
        if (sent == total) {
          result_.to_plain += total;
          if (++rounds == rounds_per_turn) return take_turns(&relay_session::open_step);
          continue;
        }
        if (ec && !would_block(ec)) {
          close_both(plain_, secure_);
          return ended(down_, describe(ec));
        }
        while (sent >= out.front().size()) {  // drop what went
          sent -= out.front().size();
          out = out.subspan(1);
        }
        out.front() += sent;
        net::async_write(
            plain_, out,
            [self = shared_from_this(), total](const boost::system::error_code& wec, std::size_t) {
              if (wec) {
                close_both(self->plain_, self->secure_);
                return self->ended(self->down_, describe(wec));
              }
              self->result_.to_plain += total;
              self->open_step();
            });
        return;
      }
      if (std::exchange(secure_drained_, false)) return wait_secure();
      auto space = dec_.prepare();
      std::size_t n = read_now(secure_, space, ec);
      if (would_block(ec)) return wait_secure();
      if (ec) return ended(down_, read_ended(ec, secure_, plain_));
      secure_drained_ = n < space.size();  // as in seal_step
      idle_.touch();
      dec_.commit(n);
    }
  }

  void wait_secure() {
    dec_.release();  // keeps the buffer only while a partial chunk is in it
    secure_.async_wait(
        tcp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& wec) {
          if (wec) {
            return self->ended(self->down_, read_ended(wec, self->secure_, self->plain_));
          }
          self->open_step();
        });
  }

  // One direction is over (`why`); when both are, the connection is.
  void ended(const char*& direction, const char* why) {
    direction = why;
    if (up_ == nullptr || down_ == nullptr) return;
    close_both(plain_, secure_);
    // The more telling of the two endings ("bad data" or "reset" over a plain "closed").
    result_.ending = idle_.fired()                       ? "idle timeout"
                     : std::string_view(up_) != "closed" ? up_
                                                         : down_;
    if (!spdlog::should_log(spdlog::level::debug)) return;
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - log_.started);
    // Up is toward the target: sealed on ss-local's side, opened on ss-server's.
    auto up = log_.plain_is_client ? result_.to_secure : result_.to_plain;
    auto down = log_.plain_is_client ? result_.to_plain : result_.to_secure;
    spdlog::debug("#{} {}: {}, {} bytes up, {} bytes down, {} ms", log_.id, log_.what,
                  result_.ending, up + log_.early_up, down, ms.count());
  }

  tcp::socket plain_;
  tcp::socket secure_;
  aead_stream_encoder enc_;
  aead_stream_decoder dec_;
  std::shared_ptr<service_context> ctx_;  // the replay filter, the counters
  active_guard guard_;
  idle_deadline idle_;
  pooled_block sealed_;  // only while a sealed write is in flight
  std::array<net::const_buffer, 8> opened_{};
  bool salt_checked_;
  bool plain_drained_ = false;   // the last read from plain_ emptied its queue
  bool secure_drained_ = false;  // the last read from secure_ emptied its queue
  const char* up_ = nullptr;     // how plain -> secure ended, once it has
  const char* down_ = nullptr;
  relay_result result_;
  relay_log log_;
};

}  // namespace

void start_relay(tcp::socket plain, tcp::socket secure, aead_stream_encoder enc,
                 aead_stream_decoder dec, std::shared_ptr<service_context> ctx, bool check_replay,
                 relay_log log) {
  std::make_shared<relay_session>(std::move(plain), std::move(secure), std::move(enc),
                                  std::move(dec), std::move(ctx), check_replay, std::move(log))
      ->start();
}

}  // namespace ss
