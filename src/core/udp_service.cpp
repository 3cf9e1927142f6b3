// The UDP relay (SIP004 UDP packets): ss-local's SOCKS5 UDP ASSOCIATE, ss-server's NAT relay,
// ss-tunnel's UDP forwarder. Every buffer is one datagram, allocated once per socket; nothing
// is queued: a datagram that cannot go out now is dropped, as UDP allows.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "nat_table.hpp"
#include "services.hpp"
#include "shadowsocks/socks5.hpp"
#include "shadowsocks/udp_packet.hpp"

namespace ss {

namespace {

// A receive buffer larger than any UDP payload (65527 bytes over IPv4), so recvfrom never
// truncates a datagram without our knowing.
constexpr std::size_t datagram_buffer = 65536;
// Room kept in front of received data so an address header (at most 259 bytes) or the
// SOCKS5 UDP header can be put in front of it without copying.
constexpr std::size_t headroom = max_address_size + 3;
// Concurrent DNS look-ups the UDP relay of one server may have in flight; beyond, drop.
constexpr int max_pending_resolves = 64;

// IPv4-mapped IPv6 addresses (from dual-stack sockets) compare and print as IPv4.
net::ip::address plain_address(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  }
  return a;
}

target_address to_target(const udp::endpoint& ep) {
  auto a = plain_address(ep.address());
  if (a.is_v4()) return target_address::ipv4(a.to_v4().to_bytes(), ep.port());
  return target_address::ipv6(a.to_v6().to_bytes(), ep.port());
}

std::optional<udp::endpoint> to_endpoint(const target_address& t) {
  switch (t.type()) {
    case address_type::ipv4:
      return udp::endpoint(net::ip::address_v4(t.v4()), t.port());
    case address_type::ipv6:
      return udp::endpoint(net::ip::address_v6(t.v6()), t.port());
    case address_type::domain:
      return std::nullopt;
  }
  return std::nullopt;
}

// Puts the wire encoding of `t` just in front of `data` (which has `headroom` before it) and
// returns the span covering both.
mutable_bytes prepend_address(const target_address& t, std::uint8_t* data, std::size_t n) {
  std::uint8_t* start = data - t.encoded_size();
  encode_address(t, {start, t.encoded_size()});
  return {start, t.encoded_size() + n};
}

// Direct, non-blocking system calls on the UDP paths: a datagram is received or sent at once
// or not at all, so each one costs one system call and no trip through the scheduler (awaiting
// every send and receive as an Asio operation made us slower than libev per datagram).

// The next datagram: taken at once if one is queued, else after waiting for readability.
awaitable<std::pair<boost::system::error_code, std::size_t>> receive_datagram(udp::socket& s,
                                                                              mutable_bytes into,
                                                                              udp::endpoint& from) {
  for (;;) {
    udp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    ssize_t n =
        ::recvfrom(s.native_handle(), into.data(), into.size(), MSG_DONTWAIT, ep.data(), &len);
    if (n >= 0) {
      ep.resize(len);
      from = ep;
      co_return std::pair{boost::system::error_code{}, static_cast<std::size_t>(n)};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      co_return std::pair{boost::system::error_code(errno, boost::system::system_category()),
                          std::size_t{0}};
    }
    auto [wec] = co_await s.async_wait(udp::socket::wait_read, use_nothrow);
    if (wec) co_return std::pair{wec, std::size_t{0}};
  }
}

// Sends one datagram now; if it cannot go (a full buffer, too large), it is dropped with a
// debug line: nothing is queued.
void send_now(udp::socket& s, bytes_view data, const udp::endpoint& to, const char* what) {
  for (;;) {
    ssize_t n = ::sendto(s.native_handle(), data.data(), data.size(), MSG_DONTWAIT, to.data(),
                         static_cast<socklen_t>(to.size()));
    if (n >= 0) return;
    if (errno == EINTR) continue;
    spdlog::debug("UDP datagram of {} bytes {} dropped: {}", data.size(), what,
                  std::strerror(errno));
    return;
  }
}

// The client side of the UDP relay: one socket to the server, sealing what goes out and
// opening what comes back.
class udp_upstream {
 public:
  udp_upstream(net::any_io_executor ex, const master_key& key)
      : sock_(ex),
        cipher_(key),
        out_(datagram_buffer + max_salt_size + tag_size),
        in_(datagram_buffer) {}

  // Resolves the server (the first host that resolves) and opens a socket of its family.
  awaitable<bool> open(const config& c) {
    for (const auto& host : c.server_hosts) {
      auto [ec, endpoints] = co_await resolve_within(host, c.server_port, c.ipv6_first, c.timeout);
      if (ec || endpoints.empty()) continue;
      const auto& ep = endpoints.front();
      server_ = udp::endpoint(ep.address(), ep.port());
      sock_.open(server_.protocol(), ec);
      if (!ec) co_return true;
    }
    co_return false;
  }

  // Seals `payload` (address + data) and sends it to the server.
  void send(bytes_view payload) {
    auto n = cipher_.seal(payload, mutable_bytes(out_));
    send_now(sock_, {out_.data(), n}, server_, "to the server");
  }

  // The next authentic packet from the server, opened in place: address + data, with at least
  // 16 bytes (the salt it replaced) free in front of it. Empty when the socket closed.
  awaitable<std::optional<mutable_bytes>> receive() {
    for (;;) {
      udp::endpoint from;
      auto [ec, n] = co_await receive_datagram(sock_, mutable_bytes(in_), from);
      if (ec == net::error::operation_aborted || !sock_.is_open()) co_return std::nullopt;
      if (ec || from != server_) continue;
      auto plain = cipher_.open({in_.data(), n});
      if (!plain) continue;  // forged or corrupted: dropped without a trace
      if (!decode_address(*plain).is_done()) continue;
      auto offset = static_cast<std::size_t>(plain->data() - in_.data());
      co_return mutable_bytes(in_.data() + offset, plain->size());
    }
  }

  void close() {
    boost::system::error_code ignored;
    sock_.close(ignored);
  }

 private:
  udp::socket sock_;
  udp::endpoint server_;
  udp_packet_cipher cipher_;
  std::vector<std::uint8_t> out_;
  std::vector<std::uint8_t> in_;
};

// --- ss-local: SOCKS5 UDP ASSOCIATE --------------------------------------------------------

struct association {
  udp::socket local;
  udp_upstream up;
  net::ip::address client_ip;
  std::uint16_t client_port_hint = 0;
  std::optional<udp::endpoint> client;  // where answers go: the last valid sender
  std::uint64_t id = 0;
};

awaitable<void> watch_control(tcp::socket& control) {
  // RFC 1928 section 7: the association ends when its TCP connection does.
  std::array<std::uint8_t, 512> sink{};
  for (;;) {
    auto [ec, n] = co_await control.async_read_some(net::buffer(sink), use_nothrow);
    if (ec) co_return;
  }
}

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

// --- ss-server: the NAT relay --------------------------------------------------------------

// What a UDP relay socket of ss-server or ss-tunnel shares with its tasks: the socket, the
// service, and the association table (client addresses, or senders, to their entries).
template <class Entry>
struct udp_relay_state {
  udp_relay_state(std::shared_ptr<udp::socket> s, std::shared_ptr<service_context> c)
      : sock(std::move(s)),
        ctx(std::move(c)),
        table(ctx->cfg.udp_max_associations, ctx->cfg.udp_timeout) {}
  std::shared_ptr<udp::socket> sock;
  std::shared_ptr<service_context> ctx;
  nat_table<udp::endpoint, Entry> table;
  int resolving = 0;  // DNS look-ups in flight (ss-server)
};

// Forgets silent associations until the socket closes, then all of them.
template <class Entry>
awaitable<void> expire_loop(std::shared_ptr<udp_relay_state<Entry>> st) {
  auto period = std::min<steady_clock::duration>(1s, st->table.timeout() / 2);
  net::steady_timer t(st->sock->get_executor());
  while (st->sock->is_open()) {
    t.expires_after(period);
    co_await t.async_wait(use_nothrow);
    if (auto n = st->table.expire()) spdlog::debug("{} UDP association(s) expired", n);
  }
  st->table.clear();
}

// One client address: an outbound socket per address family, opened on first use.
struct client_entry {
  udp::endpoint client;
  std::optional<udp::socket> v4, v6;
  std::string cached_host;  // the last domain target and what it resolved to
  std::uint16_t cached_port = 0;
  udp::endpoint cached_endpoint;
  void close() {
    boost::system::error_code ignored;
    if (v4) v4->close(ignored);
    if (v6) v6->close(ignored);
  }
};

using udp_server_state = udp_relay_state<client_entry>;

// Answers from targets back to the client, each sealed with its source address in front.
awaitable<void> reply_loop(std::shared_ptr<udp_server_state> st, std::shared_ptr<client_entry> e,
                           udp::socket& out) {
  // The key of the context the association was made under (kept alive here: a reload that
  // changes the key drops the association, which ends this loop).
  auto ctx = st->ctx;
  udp_packet_cipher sealer(*ctx->cfg.key);
  std::vector<std::uint8_t> buf(headroom + datagram_buffer);
  std::vector<std::uint8_t> sealed(headroom + datagram_buffer + max_salt_size + tag_size);
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await receive_datagram(out, {buf.data() + headroom, datagram_buffer}, from);
    if (ec == net::error::operation_aborted || !out.is_open()) co_return;
    if (ec) continue;
    st->table.touch(e->client);
    auto payload = prepend_address(to_target(from), buf.data() + headroom, n);
    auto m = sealer.seal(payload, mutable_bytes(sealed));
    ctx->replay.insert({sealed.data(), sealer.overhead() - tag_size});
    send_now(*st->sock, {sealed.data(), m}, e->client, "to the client");
  }
}

void send_to_target(const std::shared_ptr<udp_server_state>& st,
                    const std::shared_ptr<client_entry>& e, udp::endpoint target, bytes_view data) {
  target = udp::endpoint(plain_address(target.address()), target.port());
  if (const char* why = outbound_refusal(target.address(), st->ctx->cfg)) {
    spdlog::debug("UDP datagram to {} refused: {}", target.address().to_string(), why);
    return;
  }
  auto& slot = target.address().is_v4() ? e->v4 : e->v6;
  if (!slot) {
    slot.emplace(st->sock->get_executor());
    boost::system::error_code ec;
    slot->open(target.protocol(), ec);
    if (ec) {
      spdlog::debug("UDP socket for {} failed: {}", to_string(tcp::endpoint(target.address(), 0)),
                    ec.message());
      slot.reset();
      return;
    }
    net::co_spawn(st->sock->get_executor(), reply_loop(st, e, *slot), log_exception);
  }
  send_now(*slot, data, target, "to the target");
}

awaitable<void> resolve_and_send(std::shared_ptr<udp_server_state> st,
                                 std::shared_ptr<client_entry> e, target_address target,
                                 std::vector<std::uint8_t> data) {
  const auto& c = st->ctx->cfg;
  auto [ec, endpoints] =
      co_await resolve_within(target.name(), target.port(), c.ipv6_first, c.timeout);
  --st->resolving;
  if (ec || endpoints.empty()) {
    spdlog::debug("UDP target {} does not resolve", target.to_string());
    co_return;
  }
  auto ep = endpoints.front();
  e->cached_host = target.name();
  e->cached_port = target.port();
  e->cached_endpoint = udp::endpoint(ep.address(), ep.port());
  send_to_target(st, e, e->cached_endpoint, data);
}

// --- ss-tunnel UDP --------------------------------------------------------------------------

struct tunnel_session {
  tunnel_session(net::any_io_executor ex, std::shared_ptr<service_context> c)
      : ctx(std::move(c)), up(ex, *ctx->cfg.key) {}
  std::shared_ptr<service_context> ctx;  // the configuration the session started under
  udp::endpoint sender;
  udp_upstream up;
  void close() { up.close(); }
};

using udp_tunnel_state = udp_relay_state<tunnel_session>;

awaitable<void> tunnel_reply_loop(std::shared_ptr<udp_tunnel_state> st,
                                  std::shared_ptr<tunnel_session> s) {
  for (;;) {
    auto payload = co_await s->up.receive();
    if (!payload) co_return;
    st->table.touch(s->sender);
    // The answer's source address is the tunnel's destination; the sender wants the data.
    auto a = decode_address(*payload);
    auto data = payload->subspan(a.consumed);
    send_now(*st->sock, data, s->sender, "to the sender");
  }
}

}  // namespace

awaitable<void> serve_udp_associate(tcp::socket& control, const target_address& hint,
                                    service_context& ctx, std::uint64_t id,
                                    const std::string& peer) {
  auto ex = control.get_executor();
  boost::system::error_code ec1, ec2;
  auto here = control.local_endpoint(ec1);
  auto there = control.remote_endpoint(ec2);
  if (ec1 || ec2) co_return;
  association a{udp::socket(ex),
                udp_upstream(ex, *ctx.cfg.key),
                plain_address(there.address()),
                hint.port(),
                std::nullopt,
                id};
  boost::system::error_code ec;
  a.local.open(here.address().is_v4() ? udp::v4() : udp::v6(), ec);
  if (!ec) a.local.bind(udp::endpoint(here.address(), 0), ec);
  if (ec || !co_await a.up.open(ctx.cfg)) {
    spdlog::warn("#{} {}: UDP ASSOCIATE failed: {}", id, peer,
                 ec ? ec.message() : "the server does not resolve");
    co_await send_socks5_reply(control, socks5::reply_code::general_failure,
                               target_address::ipv4({0, 0, 0, 0}, 0));
    co_return;
  }
  auto bound = a.local.local_endpoint(ec);
  if (!co_await send_socks5_reply(control, socks5::reply_code::succeeded, to_target(bound))) {
    co_return;
  }
  spdlog::debug("#{} {}: UDP ASSOCIATE on {}", id, peer,
                to_string(tcp::endpoint(bound.address(), bound.port())));
  co_await (watch_control(control) || client_to_server(a) || server_to_client(a));
  spdlog::debug("#{} {}: UDP association ended", id, peer);
}

awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock, const context_slot& slot) {
  auto ctx = slot.load();
  auto st = std::make_shared<udp_server_state>(sock, ctx);
  net::co_spawn(sock->get_executor(), expire_loop(st), log_exception);
  udp_packet_cipher opener(*ctx->cfg.key);
  std::vector<std::uint8_t> buf(datagram_buffer);
  for (;;) {
    udp::endpoint client;
    auto [ec, n] = co_await receive_datagram(*sock, mutable_bytes(buf), client);
    if (ec == net::error::operation_aborted || !sock->is_open()) break;
    if (ec) continue;
    if (auto now = slot.load(); now != ctx) {
      // Reloaded. Under a new key the old associations could not be answered correctly.
      if (!std::ranges::equal(now->cfg.key->bytes(), ctx->cfg.key->bytes()) ||
          &now->cfg.key->cipher() != &ctx->cfg.key->cipher()) {
        st->table.clear();
      }
      opener = udp_packet_cipher(*now->cfg.key);
      ctx = std::move(now);
      st->ctx = ctx;
    }
    // A packet that fails authentication is dropped without an answer and creates nothing.
    auto plain = opener.open({buf.data(), n});
    if (!plain) continue;
    // A replayed (or reflected) packet is dropped like a forged one.
    if (ctx->replay.check_and_insert(opener.last_salt())) continue;
    auto header = decode_address(*plain);
    if (!header.is_done()) continue;
    auto data = plain->subspan(header.consumed);
    auto e = st->table.find(client);
    if (!e) {
      e = std::make_shared<client_entry>();
      e->client = client;
      if (st->table.insert(client, e) > 0) {
        spdlog::debug("UDP association table full ({}): the least recently used one is dropped",
                      ctx->cfg.udp_max_associations);
      }
      spdlog::debug("UDP association for {}",
                    to_string(tcp::endpoint(client.address(), client.port())));
    }
    const auto& target = header.value;
    if (auto ep = to_endpoint(target)) {
      send_to_target(st, e, *ep, data);
    } else if (e->cached_host == target.name() && e->cached_port == target.port()) {
      send_to_target(st, e, e->cached_endpoint, data);
    } else if (st->resolving < max_pending_resolves) {
      ++st->resolving;
      net::co_spawn(sock->get_executor(),
                    resolve_and_send(st, e, target, {data.begin(), data.end()}), log_exception);
    } else {
      spdlog::debug("UDP datagram to {} dropped: too many look-ups in flight", target.to_string());
    }
  }
  st->table.clear();
}

awaitable<void> run_udp_tunnel(std::shared_ptr<udp::socket> sock, const context_slot& slot) {
  auto st = std::make_shared<udp_tunnel_state>(sock, slot.load());
  net::co_spawn(sock->get_executor(), expire_loop(st), log_exception);
  std::vector<std::uint8_t> buf(headroom + datagram_buffer);
  for (;;) {
    udp::endpoint sender;
    auto [ec, n] =
        co_await receive_datagram(*sock, {buf.data() + headroom, datagram_buffer}, sender);
    if (ec == net::error::operation_aborted || !sock->is_open()) break;
    if (ec) continue;
    auto s = st->table.find(sender);
    if (!s) {
      s = std::make_shared<tunnel_session>(sock->get_executor(), slot.load());
      s->sender = sender;
      if (!co_await s->up.open(s->ctx->cfg)) {
        spdlog::warn("UDP tunnel: the server does not resolve");
        continue;
      }
      st->table.insert(sender, s);
      net::co_spawn(sock->get_executor(), tunnel_reply_loop(st, s), log_exception);
    }
    s->up.send(prepend_address(*s->ctx->cfg.tunnel_target, buf.data() + headroom, n));
  }
  st->table.clear();
}

}  // namespace ss
