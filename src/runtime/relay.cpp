#include "shadowsocks/runtime/relay.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <optional>

#include "shadowsocks/codec/buffer_pool.hpp"
#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/reactor_shortcuts.hpp"
#include "shadowsocks/runtime/socket_io.hpp"

namespace ss {

const char* to_string(relay_end e) noexcept {
  switch (e) {
    case relay_end::closed:
      return "closed";
    case relay_end::idle_timeout:
      return "idle timeout";
    case relay_end::bad_data:
      return "bad data";
    case relay_end::replayed:
      return "replayed";
    case relay_end::reset:
      return "reset";
    case relay_end::broken_pipe:
      return "broken pipe";
    case relay_end::socket_error:
      return "socket error";
  }
  return "?";
}

namespace {

// Plaintext read per sealing round: three full chunks, so a bulk transfer is sealed in
// 0x3FFF-byte chunks and written with one write per read, and the result fits a pooled block.
constexpr std::size_t seal_read_size = 3 * max_payload_size;
static_assert(seal_read_size + (seal_read_size / max_payload_size + 1) * chunk_overhead +
                      max_salt_size <=
                  pool_block_size,
              "one read must seal into one block");
static_assert(max_salt_size + 1 + 8 + max_salt_size + seal_read_size + chunk_overhead <=
                  pool_block_size,
              "one read must seal into one block with the 2022 response header");
// Reads and writes one direction of a relay does in a row before it lets the other
// connections of its worker run (16 full rounds move about 0.75 MiB).
constexpr int rounds_per_turn = 16;

relay_end describe(const boost::system::error_code& ec) {
  if (ec == net::error::connection_reset) return relay_end::reset;
  if (ec == net::error::broken_pipe) return relay_end::broken_pipe;
  if (ec == net::error::operation_aborted || ec == net::error::eof) return relay_end::closed;
  return relay_end::socket_error;
}

// The end of a relay: the caller's callback and the connection's closing debug line.
void report_end(const relay_options& opts, const relay_summary& summary) {
  if (opts.on_end) opts.on_end(summary);
  const auto& log = opts.log;
  if (!spdlog::should_log(spdlog::level::debug)) return;
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - log.started);
  spdlog::debug("#{} {}: {}, {} bytes up, {} bytes down, {} ms", log.id, log.what,
                to_string(summary.ending), summary.up, summary.down, ms.count());
}

// What the relay does to the bytes between its two sockets, one type per kind of relay.
// Up: `seal` turns `n` bytes read from the plain socket into the block to write to the other
// one. Down: `prepare`/`commit` buffer what the other socket gave, `next` hands out the
// plaintext that is whole, `release` gives an empty buffer back to the pool.

// The encrypted side of ss-local, ss-tunnel and ss-server: AEAD chunks.
struct sealed_chunks {
  static constexpr std::size_t read_size = seal_read_size;
  aead_stream_encoder enc;
  aead_stream_decoder dec;

  pooled_block seal(pooled_block in, std::size_t n, std::size_t& sealed) {
    pooled_block out = pooled_block::take();
    sealed = enc.seal({in.data(), n}, out.span());
    return out;  // `in` goes back to the pool here
  }
  mutable_bytes prepare() { return dec.prepare(); }
  void commit(std::size_t n) { dec.commit(n); }
  decoded<bytes_view> next() { return dec.next(); }
  void release() noexcept { dec.release(); }
  bytes_view salt() const noexcept { return dec.salt(); }
};

// Two plaintext sockets (ss-local's direct connections): what is read is what is written,
// from the same pooled block; nothing to check.
struct plain_bytes {
  static constexpr std::size_t read_size = pool_block_size;
  pooled_block down;  // what the other socket gave, while some of it is unsent
  std::size_t begin = 0, end = 0;

  static pooled_block seal(pooled_block in, std::size_t n, std::size_t& sealed) {
    sealed = n;
    return in;
  }
  mutable_bytes prepare() {
    if (!down) down = pooled_block::take();
    begin = end = 0;  // what was handed out has been written
    return down.span();
  }
  void commit(std::size_t n) { end += n; }
  decoded<bytes_view> next() {
    if (begin == end) return decoded<bytes_view>::more();
    bytes_view all(down.data() + begin, end - begin);
    begin = end;
    return decoded<bytes_view>::ok(all, all.size());
  }
  void release() noexcept {
    if (begin == end) down.reset();
  }
  static bytes_view salt() noexcept { return {}; }
};

// The relay of one proxied connection, encrypted (sealed_chunks) or not (plain_bytes), driven by
// completion callbacks rather than coroutines: once the handshake coroutine hands the two
// sockets over and returns, an idle connection is this object, its cipher contexts and two
// pending readiness waits, and nothing else (no suspended coroutine frames, no payload
// buffer). Measured in docs/performance.md.
//
// Both directions read without waiting first (read_now). Only when nothing is there do they
// give their buffers back to the pool and wait for readability, so an idle relay holds no
// payload memory and a busy one does not allocate. Single-threaded: everything runs on the
// sockets' executor (one worker's io_context).
template <typename Cipher>
class relay_session : public std::enable_shared_from_this<relay_session<Cipher>> {
 public:
  relay_session(tcp::socket plain, tcp::socket secure, Cipher cipher, relay_options opts)
      : plain_(std::move(plain)),
        secure_(std::move(secure)),
        cipher_(std::move(cipher)),
        opts_(std::move(opts)),
        idle_(plain_.get_executor(), opts_.idle_timeout) {}

  void start() {
    // Idle in both directions for the timeout: closing the sockets ends both directions.
    idle_.start([this] { close_both(); });
    seal_step(false);
    open_step(false);
  }

 private:
  using std::enable_shared_from_this<relay_session>::shared_from_this;

  // Which way data flows: up is plain -> secure (sealing), down is secure -> plain (opening).
  enum class direction : std::uint8_t { up, down };
  static constexpr direction up = direction::up;
  static constexpr direction down = direction::down;

  // plain -> secure: read what is there, seal it into one block, write it with one call. The
  // write is tried at once (write_now); only what the socket does not take goes through Asio,
  // whose completion would otherwise cost a trip through the scheduler for every write.
  // `woke_clean`: called on a readiness report that said nothing of a FIN, so a short read
  // leaves the socket drained (reactor_shortcuts.hpp) while no write had to wait.
  void seal_step(bool woke_clean) {
    boost::system::error_code ec;
    for (int round = 0;; ++round) {
      if (round == rounds_per_turn) return take_turns(&relay_session::seal_step);
      pooled_block in = pooled_block::take();
      std::size_t n = read_now(plain_, {in.data(), Cipher::read_size}, ec);
      if (would_block(ec)) return wait_readable(plain_, up);
      if (ec) return read_failed(up, ec);
      idle_.touch();
      to_secure_ += n;
      count_traffic(opts_.log.plain_is_client ? tcp_bytes_up : tcp_bytes_down, n);
      std::size_t m = 0;
      pooled_block out = cipher_.seal(std::move(in), n, m);
      net::const_buffer sealed(out.data(), m);
      std::size_t sent = write_now(secure_, {&sealed, 1}, ec);
      if (sent == m) {
        if (woke_clean && n < Cipher::read_size) return wait_readable(plain_, up);
        continue;
      }
      if (ec && !would_block(ec)) return fail(up, describe(ec));
      sealed_ = std::move(out);  // the rest when the socket takes it
      net::async_write(
          secure_, net::buffer(sealed_.data() + sent, m - sent),
          [self = shared_from_this()](const boost::system::error_code& wec, std::size_t) {
            self->sealed_.reset();
            if (wec) return self->fail(up, describe(wec));
            self->seal_step(false);
          });
      return;
    }
  }

  // secure -> plain: deliver the whole chunks buffered so far in one gather write (at most
  // `opened_.size()` of them per write), else read more into the decoder's buffer.
  // `woke_clean` as for seal_step.
  void open_step(bool woke_clean) {
    boost::system::error_code ec;
    bool drained = false;  // a short read after a clean report, and no wait since
    for (int rounds = 0;;) {
      std::size_t count = 0;
      std::size_t total = 0;
      if (auto bad = open_chunks(count, total)) return fail(down, *bad);
      if (count > 0) {
        std::span<net::const_buffer> out(opened_.data(), count);
        std::size_t sent = write_now(plain_, out, ec);
        if (sent == total) {
          to_plain_ += total;
          count_traffic(opts_.log.plain_is_client ? tcp_bytes_down : tcp_bytes_up, total);
          if (++rounds == rounds_per_turn) return take_turns(&relay_session::open_step);
          continue;
        }
        if (ec && !would_block(ec)) return fail(down, describe(ec));
        return write_rest(out, sent, total);
      }
      if (drained) return wait_readable(secure_, down);
      auto space = cipher_.prepare();
      std::size_t n = read_now(secure_, space, ec);
      if (would_block(ec)) return wait_readable(secure_, down);
      if (ec) return read_failed(down, ec);
      idle_.touch();
      drained = woke_clean && n < space.size();
      cipher_.commit(n);
    }
  }

  // Opens the whole chunks buffered in the decoder into `opened_` (`count` buffers, `total`
  // bytes); checks the salt of the stream at its first chunk. How the stream ended if it is bad.
  std::optional<relay_end> open_chunks(std::size_t& count, std::size_t& total) {
    while (count < opened_.size()) {
      auto d = cipher_.next();
      if (d.is_error()) return relay_end::bad_data;
      if (d.needs_more()) break;
      if (opts_.check_replay != nullptr) {
        // Checked once, when the first chunk authenticates (then never again).
        if (opts_.check_replay->check_and_insert(cipher_.salt())) return relay_end::replayed;
        opts_.check_replay = nullptr;
      }
      if (!d.value.empty()) opened_[count++] = net::const_buffer(d.value.data(), d.value.size());
      total += d.value.size();
    }
    return std::nullopt;
  }

  // What the plaintext socket did not take at once goes through Asio; `sent` bytes went.
  void write_rest(std::span<net::const_buffer> out, std::size_t sent, std::size_t total) {
    while (sent >= out.front().size()) {  // drop what went
      sent -= out.front().size();
      out = out.subspan(1);
    }
    out.front() += sent;
    net::async_write(
        plain_, out,
        [self = shared_from_this(), total](const boost::system::error_code& wec, std::size_t) {
          if (wec) return self->fail(down, describe(wec));
          self->to_plain_ += total;
          self->count_traffic(self->opts_.log.plain_is_client ? tcp_bytes_down : tcp_bytes_up,
                              total);
          self->open_step(false);
        });
  }

  // The user's traffic counters, if the relay has them (this worker's slot: no lock).
  void count_traffic(traffic_field field, std::uint64_t n) noexcept {
    if (opts_.traffic != nullptr) opts_.traffic->add(field, n);
  }

  // After `rounds_per_turn` reads and writes in a row, the rest of the worker's connections
  // get their turn before this direction goes on.
  void take_turns(void (relay_session::*step)(bool)) {
    net::post(plain_.get_executor(), [self = shared_from_this(), step] { ((*self).*step)(false); });
  }

  // Called right after a read of `s` said EAGAIN, or was short after a report without a FIN,
  // with no pass of the reactor since: the wait needs no re-arm (reactor_shortcuts.hpp).
  void wait_readable(tcp::socket& s, direction dir) {
    // The decoder keeps its buffer only while a partial chunk is in it.
    if (dir == down) cipher_.release();
    (dir == up ? up_ready_ : down_ready_).wait(s, this->shared_from_this());
  }

  template <direction dir>
  static void readable(void* owner, const boost::system::error_code& ec) {
    auto* self = static_cast<relay_session*>(owner);
    if (ec) return self->read_failed(dir, ec);
    if (dir == up) {
      self->seal_step(self->up_ready_.woke_without_fin());
    } else {
      self->open_step(self->down_ready_.woke_without_fin());
    }
  }

  // A read in `dir` ended: EOF half-closes the other side (its last chunk is already out);
  // our own close ends the direction quietly; anything else ends both.
  void read_failed(direction dir, const boost::system::error_code& ec) {
    if (ec != net::error::operation_aborted) note_first_end(dir);
    if (ec == net::error::eof) {
      // When the other direction is over already, both sockets are closed right away, and the
      // close sends the FIN: no shutdown call needed.
      if (!(dir == up ? down_ : up_)) {
        boost::system::error_code ignored;
        (dir == up ? secure_ : plain_).shutdown(tcp::socket::shutdown_send, ignored);
      }
      return ended(dir, relay_end::closed);
    }
    if (ec == net::error::operation_aborted) return ended(dir, relay_end::closed);
    fail(dir, describe(ec));
  }

  // A hard ending in `dir`: closing both sockets makes the other direction's pending operation
  // finish too.
  void fail(direction dir, relay_end why) {
    note_first_end(dir);
    close_both();
    ended(dir, why);
  }

  // Which side ended first, and when (for ss-local's wrong-password hint): the first end that
  // is not our own doing (a close after the other direction failed, or the idle timeout).
  void note_first_end(direction dir) {
    if (first_end_ || idle_.fired()) return;
    first_end_ = {dir == (opts_.log.plain_is_client ? down : up),
                  steady_clock::now() - opts_.log.started};
  }

  void close_both() {
    boost::system::error_code ignored;
    plain_.close(ignored);
    secure_.close(ignored);
  }

  // One direction is over; when both are, the connection is.
  void ended(direction dir, relay_end why) {
    (dir == up ? up_ : down_) = why;
    if (!up_ || !down_) return;
    close_both();
    // The more telling of the two endings ("bad data" or "reset" over a plain "closed").
    relay_end ending = idle_.fired()               ? relay_end::idle_timeout
                       : *up_ != relay_end::closed ? *up_
                                                   : *down_;
    // Up is toward the target: sealed on ss-local's side, opened on ss-server's.
    relay_summary summary{(opts_.log.plain_is_client ? to_secure_ : to_plain_) + opts_.log.early_up,
                          opts_.log.plain_is_client ? to_plain_ : to_secure_, ending};
    if (first_end_) std::tie(summary.target_ended_first, summary.first_end_after) = *first_end_;
    report_end(opts_, summary);
  }

  tcp::socket plain_;
  tcp::socket secure_;
  Cipher cipher_;
  relay_options opts_;  // check_replay is cleared once the salt has been checked; counts it
  idle_deadline idle_;
  pooled_block sealed_;  // only while a sealed write is in flight
  std::array<net::const_buffer, 8> opened_{};
  read_readiness up_ready_{&readable<up>, this};      // plain_ readable
  read_readiness down_ready_{&readable<down>, this};  // secure_ readable
  std::optional<relay_end> up_;                       // how plain -> secure ended, once it has
  std::optional<relay_end> down_;
  // The first end not of our own doing: (the target's side, after how long).
  std::optional<std::pair<bool, steady_clock::duration>> first_end_;
  std::uint64_t to_secure_ = 0;  // plaintext bytes sealed toward the encrypted side
  std::uint64_t to_plain_ = 0;   // plaintext bytes opened toward the plaintext side
};

}  // namespace

void start_plain_relay(tcp::socket client, tcp::socket target, relay_options opts) {
  opts.check_replay = nullptr;  // no salt
  std::make_shared<relay_session<plain_bytes>>(std::move(client), std::move(target), plain_bytes{},
                                               std::move(opts))
      ->start();
}

void start_relay(tcp::socket plain, tcp::socket secure, aead_stream_encoder enc,
                 aead_stream_decoder dec, relay_options opts) {
  std::make_shared<relay_session<sealed_chunks>>(std::move(plain), std::move(secure),
                                                 sealed_chunks{std::move(enc), std::move(dec)},
                                                 std::move(opts))
      ->start();
}

}  // namespace ss
