// ss-server's side of one client connection: finds the key, decrypts, reads the address
// header, refuses bad data quietly, and hands the connection to the relay.

#include "client_stream.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include "shadowsocks/codec/sip022_header.hpp"
#include "shadowsocks/crypto/key_ring.hpp"
#include "shadowsocks/runtime/reactor_shortcuts.hpp"
#include "shadowsocks/runtime/socket_io.hpp"

namespace ss {

namespace {

request_outcome refused(errc why) {
  return request_outcome{decoded<target_address>::fail(why), {}};
}

// The salt of a stream whose first chunk authenticated: a replay if seen before. It is
// recorded only now, so a truncated copy raced ahead of the genuine client never gets here
// and cannot poison the store (shadowsocks-org's replay discussion; outline-ss-server does the
// same). The 2022 methods keep an exact 60 s store (SIP022 3.1.5); their decoder has already
// checked the header's type and timestamp.
bool replayed(process_state& st, const aead_stream_decoder& dec, bool is_2022) {
  return is_2022 ? st.salts_2022.check_and_insert(dec.salt())
                 : st.replay.check_and_insert(dec.salt());
}

}  // namespace

client_stream::client_stream(accepted& client) : client_(client), key_(client.ctx->cfg.key.get()) {}

const std::string* client_stream::user_name() const noexcept {
  return key_name_;
}

awaitable<request_outcome> client_stream::read_request() {
  const auto& c = client_.ctx->cfg;
  if (c.keys) {
    if (auto failure = co_await find_key()) co_return std::move(*failure);
  }
  // A multi-user server (SIP023) reads the identity header first; `c.users` outlives the
  // connection (the relay keeps the context alive).
  dec_.emplace(*key_, c.users.get());
  if (!plain_.empty()) {
    dec_->feed(plain_);
    plain_.clear();
  }
  auto outcome = co_await read_header();
  if (const auto* user = dec_->user()) key_name_ = &user->name;
  co_return outcome;
}

// Several keys on the port (2017): reads the stream's first bytes until a key of the ring
// opens its first length or none can (outline-ss-server's trial decryption); nothing is read
// beyond what arrived. The ring outlives the connection (the relay keeps the context alive).
// Empty when a key was found.
awaitable<std::optional<request_outcome>> client_stream::find_key() {
  const auto& ring = *client_.ctx->cfg.keys;
  auto from = address_bytes(client_.conn.peer.endpoint.address());  // its last key goes first
  std::array<std::uint8_t, 128> buf;
  for (;;) {
    auto [ec, n] = co_await client_.socket.async_read_some(net::buffer(buf), use_nothrow);
    if (ec) co_return request_outcome{decoded<target_address>::more(), ec};
    plain_.insert(plain_.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    auto found = ring.find_stream_key(plain_, from);
    if (found.index) {
      key_index_ = found.index;
      key_ = &ring[*found.index].key;
      key_name_ = &ring[*found.index].name;
      co_return std::nullopt;
    }
    if (!found.need_more) co_return refused(errc::no_key_opens);
  }
}

// Decrypts until the address header is complete. 2017: the address may span chunks; `plain_`
// collects the plaintext and stays under one address plus one chunk, because the decoder
// answers done or error once 259 bytes are there. 2022: the address is in the variable-length
// header chunk and `plain_` gets that chunk's initial payload.
awaitable<request_outcome> client_stream::read_header() {
  auto& dec = *dec_;
  auto& s = client_.socket;
  const bool is_2022 = key_->cipher().is_2022();
  bool salt_checked = false;
  for (;;) {
    for (auto d = dec.next(); !d.needs_more(); d = dec.next()) {
      if (d.is_error()) co_return refused(d.error);
      if (!salt_checked) {
        salt_checked = true;
        if (replayed(*client_.ctx->state, dec, is_2022)) co_return refused(errc::replayed_salt);
      }
      if (is_2022) {
        auto h = sip022::decode_request_variable(d.value);
        if (h.is_error()) co_return refused(h.error);
        plain_.assign(h.value.payload.begin(), h.value.payload.end());
        co_return request_outcome{decoded<target_address>::ok(std::move(h.value.target), 0), {}};
      }
      plain_.insert(plain_.end(), d.value.begin(), d.value.end());
    }
    if (!plain_.empty()) {
      auto a = decode_address(plain_);
      if (!a.needs_more()) co_return request_outcome{std::move(a), {}};
    }
    // Read what is there (usually the whole request, by the time it is accepted); when nothing
    // is, give the decoder's buffer back before waiting: a silent connection then costs no
    // payload memory.
    boost::system::error_code ec;
    std::size_t n = read_now(s, dec.prepare(), ec);
    if (would_block(ec)) {
      dec.release();
      if (auto wec = co_await wait_drained(s)) {
        co_return request_outcome{decoded<target_address>::more(), wec};
      }
      continue;
    }
    if (ec) co_return request_outcome{decoded<target_address>::more(), ec};
    dec.commit(n);
  }
}

awaitable<bool> client_stream::failed(const request_outcome& o, const deadline& limit) {
  const auto& conn = client_.conn;
  if (limit.expired()) {
    // No complete request before the deadline fixed at accept time (a silent prober, or a
    // client that gave up).
    if (client_.ctx->accounting) client_.ctx->accounting->failures->add(tcp_timeout, 1);
    spdlog::debug("#{} {}: no complete request before the timeout", conn.id, conn.peer);
    co_return true;
  }
  if (o.socket_error) {
    spdlog::debug("#{} {}: closed before the request was complete", conn.id, conn.peer);
    co_return true;
  }
  if (o.header.is_error()) {
    co_await refuse_quietly(o.header.error);
    co_return true;
  }
  co_return false;
}

// Bad data (a failed tag, a bad length or address type, a replayed salt): logged, rate
// limited, and answered the same way whatever was wrong: nothing back, read and discard until
// the client gives up or the deadline fixed at accept time passes (shadowsocks-rust's "ignore
// until end"), so that what comes back, and when, tells a prober nothing.
awaitable<void> client_stream::refuse_quietly(errc why) {
  const auto& ctx = *client_.ctx;
  if (ctx.accounting) {
    ctx.accounting->failures->add(why == errc::replayed_salt ? tcp_replay
                                  : why == errc::no_key_opens || why == errc::sip022_unknown_user
                                      ? tcp_unknown_key
                                      : tcp_bad_data,
                                  1);
  }
  std::uint64_t suppressed = 0;
  if (ctx.state->invalid_requests.allow(suppressed)) {
    spdlog::warn("#{} {}: invalid request: {}{}", client_.conn.id, client_.conn.peer,
                 make_error_code(why).message(),
                 suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
  }
  co_await read_until_closed(client_.socket);
}

awaitable<void> client_stream::relay(tcp::socket remote, std::size_t header_size, relay_log log) {
  const auto& ctx = client_.ctx;
  std::size_t early = plain_.size() - header_size;
  if (early > 0) {
    auto [wec, n] = co_await net::async_write(
        remote, net::buffer(plain_.data() + header_size, early), use_nothrow);
    if (wec) co_return;
  }
  plain_ = {};  // the header and early data are out: free them before the relay
  // The user's counters (this worker's slot), for the relay too.
  const sip022::user* user = dec_->user();
  traffic_counters* traffic =
      ctx->accounting ? ctx->accounting->of(key_index_, user).get() : nullptr;
  if (traffic != nullptr) {
    traffic->add(tcp_connections, 1);
    traffic->add(tcp_bytes_up, early);
  }
  aead_stream_encoder enc(user != nullptr ? user->key : *key_);
  if (key_->cipher().is_2022()) {
    enc.answer(dec_->salt());  // the response header names the request's salt
  } else {
    // Our own salt is recorded too, so our data reflected back at us is refused as a replay.
    ctx->state->replay.insert(enc.salt());
  }
  log.early_up = early;
  auto opts = relay_options_for(ctx, false);
  opts.log = std::move(log);
  opts.traffic = traffic;
  opts.counted = std::move(client_.conn.guard);
  start_relay(std::move(remote), std::move(client_.socket), std::move(enc), std::move(*dec_),
              std::move(opts));
}

}  // namespace ss
