// ss-server: decrypts, reads the address header, connects to the target, relays.

#include <spdlog/spdlog.h>

#include "shadowsocks/codec/sip022_header.hpp"

#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/reactor_shortcuts.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/resolve.hpp"
#include "shadowsocks/runtime/socket_io.hpp"
#include "shadowsocks/service/fronts.hpp"

namespace ss {

namespace {

// What reading the header gave: the target (with any plaintext after it), a protocol error,
// or a socket ending before the header was complete.
struct header_outcome {
  decoded<target_address> header;
  boost::system::error_code socket_error;
};

header_outcome refused(errc why) {
  return header_outcome{decoded<target_address>::fail(why), {}};
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

// Decrypts until the address header is complete. 2017: the address may span chunks; `plain`
// collects the plaintext and stays under one address plus one chunk, because the decoder
// answers done or error once 259 bytes are there. 2022: the address is in the variable-length
// header chunk and `plain` gets that chunk's initial payload.
awaitable<header_outcome> read_header(tcp::socket& s, aead_stream_decoder& dec,
                                      std::vector<std::uint8_t>& plain, process_state& st,
                                      bool is_2022) {
  bool salt_checked = false;
  for (;;) {
    for (auto d = dec.next(); !d.needs_more(); d = dec.next()) {
      if (d.is_error()) co_return refused(d.error);
      if (!salt_checked) {
        salt_checked = true;
        if (replayed(st, dec, is_2022)) co_return refused(errc::replayed_salt);
      }
      if (is_2022) {
        auto h = sip022::decode_request_variable(d.value);
        if (h.is_error()) co_return refused(h.error);
        plain.assign(h.value.payload.begin(), h.value.payload.end());
        co_return header_outcome{decoded<target_address>::ok(std::move(h.value.target), 0), {}};
      }
      plain.insert(plain.end(), d.value.begin(), d.value.end());
    }
    if (!plain.empty()) {
      auto a = decode_address(plain);
      if (!a.needs_more()) co_return header_outcome{std::move(a), {}};
    }
    // Read what is there (usually the whole request, by the time it is accepted); when nothing
    // is, give the decoder's buffer back before waiting: a silent connection then costs no
    // payload memory.
    boost::system::error_code ec;
    std::size_t n = read_now(s, dec.prepare(), ec);
    if (would_block(ec)) {
      dec.release();
      if (auto wec = co_await wait_drained(s)) {
        co_return header_outcome{decoded<target_address>::more(), wec};
      }
      continue;
    }
    if (ec) co_return header_outcome{decoded<target_address>::more(), ec};
    dec.commit(n);
  }
}

// Bad data (a failed tag, a bad length or address type, a replayed salt): logged, rate
// limited, and answered the same way whatever was wrong: nothing back, read and discard until
// the client gives up or the deadline fixed at accept time passes (shadowsocks-rust's "ignore
// until end"), so that what comes back, and when, tells a prober nothing.
awaitable<void> refuse_quietly(tcp::socket& client, errc why, service_context& ctx,
                               const connection& conn) {
  if (ctx.accounting) {
    ctx.accounting->failures->add(why == errc::replayed_salt ? tcp_replay
                                  : why == errc::no_key_opens || why == errc::sip022_unknown_user
                                      ? tcp_unknown_key
                                      : tcp_bad_data,
                                  1);
  }
  std::uint64_t suppressed = 0;
  if (ctx.state->invalid_requests.allow(suppressed)) {
    spdlog::warn("#{} {}: invalid request: {}{}", conn.id, conn.peer,
                 make_error_code(why).message(),
                 suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
  }
  co_await read_until_closed(client);
}

// No complete request before the deadline fixed at accept time (a silent prober, or a client
// that gave up).
void note_timeout(const service_context& ctx, const connection& conn) {
  if (ctx.accounting) ctx.accounting->failures->add(tcp_timeout, 1);
  spdlog::debug("#{} {}: no complete request before the timeout", conn.id, conn.peer);
}

// A target the ACL blocks: the server's own policy, said at the default level (rate-limited).
void note_blocked_target(const service_context& ctx, const connection& conn,
                         const target_address& target) {
  std::uint64_t suppressed = 0;
  if (ctx.state->refused_targets.allow(suppressed)) {
    spdlog::warn("#{} {} -> {}: refused by the ACL's [outbound_block_list]{}", conn.id, conn.peer,
                 target, suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
  }
}

// Resolves the target and connects `remote` to the first of its addresses the ACL and the
// outbound guard allow, within what is left of the deadline fixed at accept time.
awaitable<boost::system::error_code> connect_target(
    tcp::socket& remote, const target_address& target, const service_context& ctx,
    const deadline& limit, steady_clock::time_point started, const connection& conn) {
  const auto& c = ctx.cfg;
  const auto* list = c.access_list.get();
  if (list != nullptr && list->outbound_blocked(target)) {
    note_blocked_target(ctx, conn, target);
    co_return make_error_code(boost::system::errc::permission_denied);
  }
  auto [ec, endpoints] =
      co_await resolve_within(target.host_string(), target.port(), c.ipv6_first,
                              started + c.timeout - steady_clock::now(), c.nameserver);
  if (ec) co_return ec;
  // The ACL's [outbound_block_list] judges the addresses a name stands for too.
  if (list != nullptr &&
      std::erase_if(
          endpoints,
          [list](const tcp::endpoint& ep) { return list->outbound_blocked(to_target(ep)); }) > 0 &&
      endpoints.empty()) {
    note_blocked_target(ctx, conn, target);
    co_return make_error_code(boost::system::errc::permission_denied);
  }
  // The outbound guard judges the exact addresses that will be dialled (no second look-up,
  // so no DNS-rebinding window).
  std::erase_if(endpoints, [&](const tcp::endpoint& ep) {
    const char* why = outbound_refusal(ep.address(), c.outbound_allow_private);
    if (why) {
      spdlog::debug("#{} {} -> {}: refused {}: {}", conn.id, conn.peer, target,
                    ep.address().to_string(), why);
    }
    return why != nullptr;
  });
  if (endpoints.empty()) {
    // The server's own policy, not a probe's doing: said at the default level (rate-limited),
    // since a user testing against this machine's services otherwise sees only empty replies.
    std::uint64_t suppressed = 0;
    if (ctx.state->refused_targets.allow(suppressed)) {
      spdlog::warn(
          "#{} {} -> {}: refused by the outbound guard (a non-public address; "
          "outbound_allow_private / --outbound-allow-private allows it){}",
          conn.id, conn.peer, target,
          suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
    }
    co_return make_error_code(boost::system::errc::permission_denied);
  }
  co_return co_await connect_any(remote, endpoints, limit, ctx.sockets());
}

// With several keys on the port (2017): what finding the client's key gave.
struct key_outcome {
  std::optional<std::size_t> index;  // the key, when one opens the stream
  header_outcome failure;            // else: no key opens it, or the socket ended first
};

// Reads the stream's first bytes into `start` until a key of `ring` opens its first length
// or none can (outline-ss-server's trial decryption). Nothing is read beyond what arrived.
awaitable<key_outcome> find_key(tcp::socket& s, const key_ring& ring, const tcp::endpoint& from,
                                std::vector<std::uint8_t>& start) {
  auto client = address_bytes(from.address());  // its last key is tried first
  std::array<std::uint8_t, 128> buf;
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(net::buffer(buf), use_nothrow);
    if (ec) co_return key_outcome{std::nullopt, {decoded<target_address>::more(), ec}};
    start.insert(start.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    auto found = ring.find_stream_key(start, client);
    if (found.index) co_return key_outcome{found.index, {}};
    if (!found.need_more) co_return key_outcome{std::nullopt, refused(errc::no_key_opens)};
  }
}

// A request that did not come whole: the deadline passed, the client closed first, or it was
// bad data (refused quietly). True when the connection is over.
awaitable<bool> request_failed(const header_outcome& o, tcp::socket& client, const deadline& limit,
                               service_context& ctx, const connection& conn) {
  if (limit.expired()) {
    note_timeout(ctx, conn);
    co_return true;
  }
  if (o.socket_error) {
    spdlog::debug("#{} {}: closed before the request was complete", conn.id, conn.peer);
    co_return true;
  }
  if (o.header.is_error()) {
    co_await refuse_quietly(client, o.header.error, ctx, conn);
    co_return true;
  }
  co_return false;
}

// The request is read and the target connected: the early data goes out, the user's
// counters start, and the relay takes both sockets.
awaitable<void> start_serving(tcp::socket client, tcp::socket remote, aead_stream_decoder dec,
                              const master_key& key, std::vector<std::uint8_t> plain,
                              std::size_t header_size, traffic_counters* traffic,
                              std::shared_ptr<service_context> ctx, relay_log log) {
  std::size_t early = plain.size() - header_size;
  if (early > 0) {
    auto [wec, n] = co_await net::async_write(
        remote, net::buffer(plain.data() + header_size, early), use_nothrow);
    if (wec) co_return;
  }
  plain = {};  // the header and early data are out: free them before the relay
  if (traffic != nullptr) {
    traffic->add(tcp_connections, 1);
    traffic->add(tcp_bytes_up, early);
  }
  aead_stream_encoder enc(key);
  if (key.cipher().is_2022()) {
    enc.answer(dec.salt());  // the response header names the request's salt
  } else {
    // Our own salt is recorded too, so our data reflected back at us is refused as a replay.
    ctx->state->replay.insert(enc.salt());
  }
  log.early_up = early;
  auto opts = relay_options_for(ctx, false);
  opts.traffic = traffic;
  start_relay(std::move(remote), std::move(client), std::move(enc), std::move(dec), std::move(opts),
              std::move(log));
}

}  // namespace

awaitable<void> serve_shadowsocks(tcp::socket client, tcp::endpoint from,
                                  std::shared_ptr<service_context> ctx) {
  const auto& c = ctx->cfg;
  connection conn(*ctx, client, from);
  const auto& id = conn.id;
  const auto& peer = conn.peer;
  // A client the ACL refuses is closed at once, before a byte is read (as libev does).
  if (c.access_list && c.access_list->client_refused(to_target(from))) {
    spdlog::debug("#{} {}: client refused by the ACL", id, peer);
    co_return;
  }
  auto started = steady_clock::now();

  // One deadline, fixed at accept time, for the request header, DNS and connect: it never
  // depends on how many bytes arrived. When it passes it closes the sockets, which ends
  // whatever is pending.
  tcp::socket remote(client.get_executor());
  deadline limit(client.get_executor());
  limit.arm(c.timeout, [&client, &remote] {
    boost::system::error_code ignored;
    client.close(ignored);
    remote.close(ignored);
  });

  // Several keys on the port (2017): the client's is the one that opens its first length;
  // none opening it is bad data like any other. The ring outlives the connection (the relay
  // keeps the context alive).
  const master_key* key = c.key.get();
  const std::string* key_name = nullptr;
  std::optional<std::size_t> key_index;
  std::vector<std::uint8_t> plain;
  if (c.keys) {
    auto k = co_await find_key(client, *c.keys, from, plain);
    if (co_await request_failed(k.failure, client, limit, *ctx, conn)) co_return;
    key_index = k.index;
    key = &(*c.keys)[*k.index].key;
    key_name = &(*c.keys)[*k.index].name;
  }
  // A multi-user server (SIP023) reads the identity header first; `c.users` outlives the
  // connection (the relay keeps the context alive).
  aead_stream_decoder dec(*key, c.users.get());
  if (!plain.empty()) {
    dec.feed(plain);
    plain.clear();
  }
  const bool is_2022 = key->cipher().is_2022();
  auto outcome = co_await read_header(client, dec, plain, *ctx->state, is_2022);
  if (co_await request_failed(outcome, client, limit, *ctx, conn)) co_return;
  const auto& target = outcome.header.value;
  // Every later line of the connection names its user.
  const sip022::user* user = dec.user();
  if (user != nullptr) key_name = &user->name;
  conn.peer.user = key_name;

  auto ec = co_await connect_target(remote, target, *ctx, limit, started, conn);
  limit.cancel();
  if (ec) {
    // An unreachable target ends the connection quietly, as in libev.
    spdlog::debug("#{} {} -> {}: cannot connect: {}", id, peer, target, ec.message());
    co_return;
  }
  relay_log log{id, {}, started, 0, false};
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("#{} {}: connected to {}", id, peer, target);
    log.what = peer.str() + " -> " + target.to_string();
  }
  // The user's counters (this worker's slot), for the relay too.
  traffic_counters* traffic =
      ctx->accounting ? ctx->accounting->of(key_index, user).get() : nullptr;
  co_await start_serving(std::move(client), std::move(remote), std::move(dec),
                         user != nullptr ? user->key : *key, std::move(plain),
                         outcome.header.consumed, traffic, ctx, std::move(log));
}

}  // namespace ss
