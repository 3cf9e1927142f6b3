// ss-local's front: one port for SOCKS5 (RFC 1928, with RFC 1929 username/password when
// users are configured) CONNECT and UDP ASSOCIATE, SOCKS4/4a CONNECT, and the HTTP proxy
// (http_front.cpp), told apart by the first byte.

#include <spdlog/spdlog.h>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <cstring>
#include <optional>

#include "http_front.hpp"
#include "outbound.hpp"
#include "shadowsocks/codec/socks4.hpp"
#include "shadowsocks/codec/socks5.hpp"
#include "shadowsocks/local/fronts.hpp"
#include "shadowsocks/service/udp_relay_state.hpp"

namespace ss {

using net::experimental::awaitable_operators::operator||;

namespace {

// How long the client may take for the SOCKS greeting and request.
constexpr auto socks_handshake_timeout = 10s;

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

// A reply with BND.ADDR/BND.PORT `bound`; false if the write failed. Like libev, a CONNECT's
// BND.ADDR is 0.0.0.0:0: the client cannot use the real one anyway.
awaitable<bool> send_reply(tcp::socket& s, socks5::reply_code rep,
                           const target_address& bound = target_address::ipv4({0, 0, 0, 0}, 0)) {
  std::vector<std::uint8_t> out;
  socks5::encode_reply(rep, bound, out);
  co_return co_await send(s, out);
}

// A client refused for its credentials (or for having none to give): a warning with its
// address, at most a few a second whatever a scanner does.
void note_refused(const service_context& ctx, const connection& conn, std::string_view why) {
  std::uint64_t suppressed = 0;
  if (!ctx.state->refused_clients.allow(suppressed)) return;
  if (suppressed > 0) {
    spdlog::warn("#{} {}: {} ({} more refusals not logged)", conn.id, conn.peer, why, suppressed);
  } else {
    spdlog::warn("#{} {}: {}", conn.id, conn.peer, why);
  }
}

// RFC 1928 sections 3-6: greeting, method selection, request. Returns the request; replies
// only to what cannot be served. Leftover bytes stay in `buf`.
awaitable<std::optional<socks5::request>> socks5_handshake(tcp::socket& s, handshake_buffer& buf,
                                                           std::size_t& have,
                                                           const service_context& ctx,
                                                           const connection& conn) {
  auto greeting = co_await read_message(s, buf, have, socks5::decode_greeting);
  if (!greeting) co_return std::nullopt;
  if (greeting->is_error()) {
    // Not SOCKS5 (or no methods): nothing sensible to answer in the protocol; close.
    spdlog::warn("#{} {}: bad SOCKS5 greeting: {}", conn.id, conn.peer,
                 make_error_code(greeting->error).message());
    co_return std::nullopt;
  }
  consume(buf, have, greeting->consumed);
  std::vector<std::uint8_t> out;
  const auto& users = ctx.cfg.local_users;
  // With users configured, username/password (RFC 1929) is the only method we take.
  auto wanted = users ? socks5::method::username_password : socks5::method::no_auth;
  if (!greeting->value.offers(wanted)) {
    socks5::encode_method_selection(socks5::method::no_acceptable, out);
    co_await send(s, out);
    if (users) {
      note_refused(ctx, conn, "SOCKS5 client offers no username/password authentication");
    } else {
      spdlog::warn("#{} {}: SOCKS5 client offers no acceptable method", conn.id, conn.peer);
    }
    co_return std::nullopt;
  }
  socks5::encode_method_selection(wanted, out);
  if (!co_await send(s, out)) co_return std::nullopt;
  if (users) {
    auto auth = co_await read_message(s, buf, have, socks5::decode_auth_request);
    if (!auth) co_return std::nullopt;
    bool ok = auth->is_done() && users->accepts(auth->value.username, auth->value.password);
    out.clear();
    socks5::encode_auth_reply(ok, out);
    if (!co_await send(s, out)) co_return std::nullopt;
    if (!ok) {
      note_refused(ctx, conn,
                   auth->is_done() ? "wrong SOCKS5 username or password"
                                   : "bad SOCKS5 username/password request");
      co_return std::nullopt;
    }
    consume(buf, have, auth->consumed);
  }

  auto request = co_await read_message(s, buf, have, socks5::decode_request);
  if (!request) co_return std::nullopt;
  if (request->is_error()) {
    co_await send_reply(s, socks5::reply_code_for(request->error));
    spdlog::warn("#{} {}: bad SOCKS5 request: {}", conn.id, conn.peer,
                 make_error_code(request->error).message());
    co_return std::nullopt;
  }
  consume(buf, have, request->consumed);
  co_return std::move(request->value);
}

// --- UDP ASSOCIATE (RFC 1928 section 7) ----------------------------------------------------

struct association {
  udp::socket local;
  udp_upstream up;
  net::ip::address client_ip;
  std::uint16_t client_port_hint = 0;
  std::optional<udp::endpoint> client;  // where answers go: the last valid sender
  std::uint64_t id = 0;
  const config* cfg = nullptr;         // the association's (kept alive by its connection)
  std::unique_ptr<udp_direct> direct;  // with an ACL: datagrams sent past the server
};

awaitable<void> client_to_server(association& a) {
  std::vector<std::uint8_t> buf(datagram_buffer);
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await receive_datagram(a.local, mutable_bytes(buf), from);
    if (ec == net::error::operation_aborted || !a.local.is_open()) co_return;
    if (ec) continue;
    // Only the client that asked for the association may use it (RFC 1928 section 7).
    if (plain_address(from.address()) != a.client_ip ||
        (a.client_port_hint != 0 && from.port() != a.client_port_hint)) {
      spdlog::debug("#{} UDP datagram from {} dropped: not the associated client", a.id,
                    from.address().to_string());
      continue;
    }
    auto h = socks5::decode_udp_header({buf.data(), n});
    if (!h.is_done()) continue;
    if (h.value.frag != 0) {
      spdlog::debug("#{} fragmented SOCKS5 UDP datagram dropped", a.id);
      continue;
    }
    a.client = from;
    note_datagram_size(*a.cfg, n - 3);
    if (a.direct) {
      // The ACL may send it past the server.
      if (auto to = co_await a.direct->route(h.value.target)) {
        a.direct->send(*to, {buf.data() + h.consumed, n - h.consumed});
        continue;
      }
    }
    // ATYP ADDR PORT DATA is exactly the Shadowsocks UDP payload.
    a.up.send({buf.data() + 3, n - 3});
  }
}

awaitable<void> server_to_client(association& a) {
  for (;;) {
    auto payload = co_await a.up.receive();
    if (!payload) co_return;
    if (!a.client) continue;
    // RSV RSV FRAG in front of ATYP ADDR PORT DATA, written into the freed salt space.
    std::uint8_t* p = payload->data() - 3;
    p[0] = p[1] = p[2] = 0;
    send_now(a.local, {p, payload->size() + 3}, *a.client, "to the client");
  }
}

// Answers from targets the ACL bypasses, on the socket of one family, to the client with
// their SOCKS5 UDP header (the sender's address).
awaitable<void> direct_to_client(association& a, bool v6) {
  for (;;) {
    auto got = co_await a.direct->receive(v6);
    if (!got) co_return;
    if (!a.client) continue;
    auto with_address =
        prepend_address(to_target(got->first), got->second.data(), got->second.size());
    std::uint8_t* p = with_address.data() - 3;  // RSV RSV FRAG
    p[0] = p[1] = p[2] = 0;
    send_now(a.local, {p, with_address.size() + 3}, *a.client, "to the client");
  }
}

// Binds a UDP socket on the address the client connected to, replies with it, and relays
// datagrams from the client's IP (and port, if `hint` names one) through the server until
// `control` closes.
awaitable<void> serve_udp_associate(tcp::socket& control, const target_address& hint,
                                    std::shared_ptr<service_context> shared,
                                    const connection& conn) {
  auto& ctx = *shared;
  auto ex = control.get_executor();
  boost::system::error_code ec1, ec2;
  auto here = control.local_endpoint(ec1);
  auto there = control.remote_endpoint(ec2);
  if (ec1 || ec2) co_return;
  association a{udp::socket(ex), udp_upstream(ex), plain_address(there.address()),
                hint.port(),     std::nullopt,     conn.id,
                &ctx.cfg,        nullptr};
  boost::system::error_code ec;
  a.local.open(here.address().is_v4() ? udp::v4() : udp::v6(), ec);
  if (!ec) a.local.bind(udp::endpoint(here.address(), 0), ec);
  if (ec || !co_await a.up.open(ctx)) {
    spdlog::warn("#{} {}: UDP ASSOCIATE failed: {}", conn.id, conn.peer,
                 ec ? ec.message() : "the server does not resolve");
    co_await send_reply(control, socks5::reply_code::general_failure);
    co_return;
  }
  auto bound = a.local.local_endpoint(ec);
  if (!co_await send_reply(control, socks5::reply_code::succeeded, to_target(bound))) co_return;
  spdlog::debug("#{} {}: UDP ASSOCIATE on {}", conn.id, conn.peer, to_string(bound));
  // The association ends when its TCP connection does (RFC 1928 section 7).
  if (ctx.cfg.access_list) {
    a.direct = std::make_unique<udp_direct>(ex, shared);
    co_await (read_until_closed(control) || client_to_server(a) || server_to_client(a) ||
              direct_to_client(a, false) || direct_to_client(a, true));
    a.direct->close();
  } else {
    co_await (read_until_closed(control) || client_to_server(a) || server_to_client(a));
  }
  spdlog::debug("#{} {}: UDP association ended", conn.id, conn.peer);
}

}  // namespace

namespace {

awaitable<bool> send_socks4_reply(tcp::socket& s, socks4::reply_code rep) {
  std::vector<std::uint8_t> out;
  socks4::encode_reply(rep, out);
  co_return co_await send(s, out);
}

// One SOCKS4 or SOCKS4a request: CONNECT is granted at once (as SOCKS5's is) and forwarded;
// BIND, and everything when proxy users are configured (SOCKS4 carries no password), is
// rejected.
awaitable<void> serve_socks4(accepted& a, std::unique_ptr<handshake_buffer> handshake,
                             std::size_t have, deadline& limit) {
  auto& client = a.socket;
  const auto& ctx = a.ctx;
  const auto& conn = a.conn;
  auto& buf = *handshake;
  auto request = co_await read_message(client, buf, have, socks4::decode_request);
  limit.cancel();
  if (!request || limit.expired()) co_return;
  if (request->is_error()) {
    co_await send_socks4_reply(client, socks4::reply_code::rejected);
    spdlog::warn("#{} {}: bad SOCKS4 request: {}", conn.id, conn.peer,
                 make_error_code(request->error).message());
    co_return;
  }
  if (ctx->cfg.local_users) {
    co_await send_socks4_reply(client, socks4::reply_code::rejected);
    note_refused(*ctx, conn, "SOCKS4 refused: the local port has users, and SOCKS4 no password");
    co_return;
  }
  if (request->value.cmd != socks4::command::connect || !ctx->cfg.tcp_enabled()) {
    co_await send_socks4_reply(client, socks4::reply_code::rejected);
    spdlog::debug("#{} {}: SOCKS4 command {} not served", conn.id, conn.peer,
                  static_cast<int>(request->value.cmd));
    co_return;
  }
  consume(buf, have, request->consumed);
  spdlog::debug("#{} {}: SOCKS4 CONNECT {}", conn.id, conn.peer, request->value.target);
  if (!co_await send_socks4_reply(client, socks4::reply_code::granted)) co_return;
  co_await forward(a, request->value.target, std::move(handshake), have);
}

// The first byte of a request line: an HTTP method is a token, in practice upper-case letters.
bool starts_like_http(std::uint8_t b) {
  return b >= 'A' && b <= 'Z';
}

// Waits for at least one byte.
decoded<std::uint8_t> first_byte(bytes_view in) {
  if (in.empty()) return decoded<std::uint8_t>::more();
  return decoded<std::uint8_t>::ok(in[0], 0);
}

}  // namespace

awaitable<void> serve_local(tcp::socket socket, tcp::endpoint from,
                            std::shared_ptr<service_context> context) {
  accepted a(std::move(socket), from, std::move(context));
  auto& client = a.socket;
  const auto& ctx = a.ctx;
  const auto& conn = a.conn;
  // On the heap, handed on to forward(), and freed once the first write is out.
  auto handshake = std::make_unique<handshake_buffer>();
  std::size_t have = 0;
  deadline limit(client.get_executor());
  limit.arm(socks_handshake_timeout, [&client] {
    boost::system::error_code ignored;
    client.close(ignored);
  });
  // The first byte says which protocol the client speaks.
  auto first = co_await read_message(client, *handshake, have, first_byte);
  if (!first) co_return;
  const auto& c = ctx->cfg;
  if (first->value == socks4::version) {
    if (c.local_socks4) {
      co_await serve_socks4(a, std::move(handshake), have, limit);
    } else {
      spdlog::debug("#{} {}: SOCKS4 is switched off (local_socks4)", conn.id, conn.peer);
    }
    co_return;
  }
  if (starts_like_http(first->value)) {
    limit.cancel();
    if (!c.local_http || !c.tcp_enabled()) {
      spdlog::debug("#{} {}: HTTP proxy requests are switched off", conn.id, conn.peer);
      co_return;
    }
    co_await serve_http(a, {handshake->data(), have});
    co_return;
  }
  if (first->value != socks5::version) {
    spdlog::debug("#{} {}: neither SOCKS nor HTTP (first byte {:#04x}): closed", conn.id, conn.peer,
                  first->value);
    co_return;
  }
  auto request = co_await socks5_handshake(client, *handshake, have, *ctx, conn);
  limit.cancel();
  if (limit.expired()) {
    spdlog::debug("#{} {}: SOCKS5 handshake timed out", conn.id, conn.peer);
    co_return;
  }
  if (!request) co_return;
  bool served = (request->cmd == socks5::command::connect && c.tcp_enabled()) ||
                (request->cmd == socks5::command::udp_associate && c.udp_enabled());
  if (!served) {
    // BIND is offered by no Shadowsocks peer; CONNECT in udp_only mode and UDP ASSOCIATE in
    // tcp_only mode are switched off by the configuration.
    co_await send_reply(client, socks5::reply_code::command_not_supported);
    spdlog::debug("#{} {}: SOCKS5 command {} not served", conn.id, conn.peer,
                  static_cast<int>(request->cmd));
    co_return;
  }
  if (request->cmd == socks5::command::udp_associate) {
    handshake.reset();
    co_await serve_udp_associate(client, request->target, ctx, conn);
    co_return;
  }
  spdlog::debug("#{} {}: CONNECT {}", conn.id, conn.peer, request->target);
  // Reply at once, as libev does; the connection to the server is made meanwhile.
  if (!co_await send_reply(client, socks5::reply_code::succeeded)) co_return;
  co_await forward(a, request->target, std::move(handshake), have);
}

}  // namespace ss
