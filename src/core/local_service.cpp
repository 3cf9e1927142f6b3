// ss-local (SOCKS5 front) and ss-tunnel (fixed destination): the client side of the protocol.

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <memory>
#include <optional>

#include "relay.hpp"
#include "services.hpp"
#include "shadowsocks/socks5.hpp"

namespace ss {

namespace {

// How long the client may take for the SOCKS5 greeting and request.
constexpr auto socks_handshake_timeout = 10s;
// How long to wait for the client's first data so that it travels with the address header in
// one write (libev does the same); protocols where the server speaks first pay this once.
constexpr auto first_data_wait = 50ms;

using handshake_buffer = std::array<std::uint8_t, 1024>;

// Reads until `decode` answers done or error over the buffered bytes; nullopt on EOF/error.
template <class Decode>
awaitable<std::optional<std::invoke_result_t<Decode, bytes_view>>> read_message(
    tcp::socket& s, handshake_buffer& buf, std::size_t& have, Decode decode) {
  for (;;) {
    auto d = decode(bytes_view(buf.data(), have));
    if (!d.needs_more()) co_return d;
    if (have == buf.size()) co_return std::nullopt;  // cannot happen: messages are < 520 bytes
    auto [ec, n] =
        co_await s.async_read_some(net::buffer(buf.data() + have, buf.size() - have), use_nothrow);
    if (ec) co_return std::nullopt;
    have += n;
  }
}

void consume(handshake_buffer& buf, std::size_t& have, std::size_t n) {
  std::memmove(buf.data(), buf.data() + n, have - n);
  have -= n;
}

awaitable<bool> send(tcp::socket& s, const std::vector<std::uint8_t>& bytes) {
  auto [ec, n] = co_await net::async_write(s, net::buffer(bytes), use_nothrow);
  co_return !ec;
}

awaitable<bool> send_reply(tcp::socket& s, socks5::reply_code rep) {
  // Like libev, a CONNECT's BND.ADDR is 0.0.0.0:0: the client cannot use the real one anyway.
  co_return co_await send_socks5_reply(s, rep, target_address::ipv4({0, 0, 0, 0}, 0));
}

// RFC 1928 sections 3-6: greeting, method selection, request. Returns the request; replies
// only to what cannot be served. Leftover bytes stay in `buf`.
awaitable<std::optional<socks5::request>> socks5_handshake(tcp::socket& s, handshake_buffer& buf,
                                                           std::size_t& have, std::uint64_t id,
                                                           const std::string& peer) {
  auto greeting = co_await read_message(s, buf, have, socks5::decode_greeting);
  if (!greeting) co_return std::nullopt;
  if (greeting->is_error()) {
    // Not SOCKS5 (or no methods): nothing sensible to answer in the protocol; close.
    spdlog::warn("#{} {}: bad SOCKS5 greeting: {}", id, peer,
                 make_error_code(greeting->error).message());
    co_return std::nullopt;
  }
  consume(buf, have, greeting->consumed);
  std::vector<std::uint8_t> out;
  if (!greeting->value.offers(socks5::method::no_auth)) {
    socks5::encode_method_selection(socks5::method::no_acceptable, out);
    co_await send(s, out);
    spdlog::warn("#{} {}: SOCKS5 client offers no acceptable method", id, peer);
    co_return std::nullopt;
  }
  socks5::encode_method_selection(socks5::method::no_auth, out);
  if (!co_await send(s, out)) co_return std::nullopt;

  auto request = co_await read_message(s, buf, have, socks5::decode_request);
  if (!request) co_return std::nullopt;
  if (request->is_error()) {
    co_await send_reply(s, socks5::reply_code_for(request->error));
    spdlog::warn("#{} {}: bad SOCKS5 request: {}", id, peer,
                 make_error_code(request->error).message());
    co_return std::nullopt;
  }
  consume(buf, have, request->consumed);
  co_return std::move(request->value);
}

// Waits briefly for the client's first bytes (appending to `buf`) unless some are there.
awaitable<void> wait_first_data(tcp::socket& client, handshake_buffer& buf, std::size_t& have,
                                deadline& limit) {
  if (have > 0) co_return;
  boost::system::error_code ec;
  have += read_now(client, {buf.data() + have, buf.size() - have}, ec);
  if (have > 0 || ec != net::error::would_block) co_return;
  limit.arm(first_data_wait, [&client] { client.cancel(); });
  co_await client.async_wait(tcp::socket::wait_read, use_nothrow);
  limit.cancel();
  have += read_now(client, {buf.data() + have, buf.size() - have}, ec);
}

awaitable<boost::system::error_code> connect_to_server(tcp::socket& server,
                                                       const service_context& ctx,
                                                       const deadline& limit) {
  const auto& c = ctx.cfg;
  boost::system::error_code last = net::error::host_not_found;
  for (const auto& host : c.server_hosts) {
    auto [ec, endpoints] = co_await resolve_within(host, c.server_port, c.ipv6_first, c.timeout);
    if (ec) {
      last = ec;
      continue;
    }
    last = co_await connect_any(server, endpoints, limit, c);
    if (!last || limit.expired()) co_return last;
  }
  co_return last;
}

// The part ss-local and ss-tunnel share: connect to the server, send the address header with
// the first data in one write, relay.
awaitable<void> forward(tcp::socket client, const target_address& target,
                        std::unique_ptr<handshake_buffer> handshake, std::size_t have,
                        std::shared_ptr<service_context> shared, std::uint64_t id,
                        const std::string& peer) {
  auto& ctx = *shared;
  auto& buf = *handshake;
  auto started = steady_clock::now();
  tcp::socket server(client.get_executor());
  deadline limit(client.get_executor());
  limit.arm(ctx.cfg.timeout, [&server] {
    boost::system::error_code ignored;
    server.close(ignored);
  });
  auto connect_ec = co_await connect_to_server(server, ctx, limit);
  limit.cancel();
  if (!connect_ec) co_await wait_first_data(client, buf, have, limit);
  if (connect_ec) {
    // The SOCKS5 success reply has already gone out (as in libev): closing is the answer.
    // Read what the client already sent first, so that the close is a FIN, not a reset.
    boost::system::error_code ec;
    while (read_now(client, {buf.data(), buf.size()}, ec) > 0) {
    }
    spdlog::warn("#{} {} -> {}: cannot reach the server: {}", id, peer, target.to_string(),
                 connect_ec.message());
    co_return;
  }
  aead_stream_encoder enc(*ctx.cfg.key);
  aead_stream_decoder dec(*ctx.cfg.key);
  ctx.replay.insert(enc.salt());
  {
    // These buffers (and the handshake buffer) are freed before the relay: an idle proxied
    // connection keeps as little memory as possible.
    std::vector<std::uint8_t> first;
    first.reserve(target.encoded_size() + have);
    encode_address(target, first);
    first.insert(first.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(have));
    std::vector<std::uint8_t> sealed;
    enc.seal(first, sealed);
    auto [wec, written] = co_await net::async_write(server, net::buffer(sealed), use_nothrow);
    if (wec) {
      spdlog::debug("#{} {} -> {}: server write failed: {}", id, peer, target.to_string(),
                    wec.message());
      co_return;
    }
  }
  handshake.reset();
  relay_log log{id, {}, started, have, true};
  if (spdlog::should_log(spdlog::level::debug)) log.what = peer + " -> " + target.to_string();
  start_relay(std::move(client), std::move(server), std::move(enc), std::move(dec),
              std::move(shared), true, std::move(log));
}

}  // namespace

awaitable<bool> send_socks5_reply(tcp::socket& s, socks5::reply_code rep,
                                  const target_address& bound) {
  std::vector<std::uint8_t> out;
  socks5::encode_reply(rep, bound, out);
  co_return co_await send(s, out);
}

awaitable<void> serve_socks5(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx) {
  active_guard guard(ctx->active);
  auto id = ctx->next_id++;
  auto peer = to_string(from);
  tune_socket(client, ctx->cfg);
  // On the heap, handed on to forward(), and freed once the first write is out.
  auto handshake = std::make_unique<handshake_buffer>();
  auto& buf = *handshake;
  std::size_t have = 0;
  deadline limit(client.get_executor());
  limit.arm(socks_handshake_timeout, [&client] {
    boost::system::error_code ignored;
    client.close(ignored);
  });
  auto request = co_await socks5_handshake(client, buf, have, id, peer);
  limit.cancel();
  if (limit.expired()) {
    spdlog::debug("#{} {}: SOCKS5 handshake timed out", id, peer);
    co_return;
  }
  if (!request) co_return;
  bool served = (request->cmd == socks5::command::connect && ctx->cfg.tcp_enabled()) ||
                (request->cmd == socks5::command::udp_associate && ctx->cfg.udp_enabled());
  if (!served) {
    // BIND is offered by no Shadowsocks peer; CONNECT in udp_only mode and UDP ASSOCIATE in
    // tcp_only mode are switched off by the configuration.
    co_await send_reply(client, socks5::reply_code::command_not_supported);
    spdlog::debug("#{} {}: SOCKS5 command {} not served", id, peer, static_cast<int>(request->cmd));
    co_return;
  }
  if (request->cmd == socks5::command::udp_associate) {
    handshake.reset();
    co_await serve_udp_associate(client, request->target, *ctx, id, peer);
    co_return;
  }
  spdlog::debug("#{} {}: CONNECT {}", id, peer, request->target.to_string());
  // Reply at once, as libev does; the connection to the server is made meanwhile.
  if (!co_await send_reply(client, socks5::reply_code::succeeded)) co_return;
  co_await forward(std::move(client), request->target, std::move(handshake), have, ctx, id, peer);
}

awaitable<void> serve_tunnel(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx) {
  active_guard guard(ctx->active);
  auto id = ctx->next_id++;
  auto peer = to_string(from);
  tune_socket(client, ctx->cfg);
  co_await forward(std::move(client), *ctx->cfg.tunnel_target, std::make_unique<handshake_buffer>(),
                   0, ctx, id, peer);
}

}  // namespace ss
