// The outbound step of ss-local and ss-tunnel: resolve and connect to ss-server, send the
// address header with the first data, hand over to the relay; and the UDP upstream socket.

#include "outbound.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/socket_io.hpp"
#include "shadowsocks/service/udp_relay_state.hpp"

namespace ss {

namespace {

// How long to wait for the client's first data so that it travels with the address header in
// one write (libev does the same); protocols where the server speaks first pay this once.
constexpr auto first_data_wait = 50ms;

// How many connections in a row may send data and get nothing back before ss-local says what
// that most likely means.
constexpr std::uint64_t unanswered_before_warning = 3;

// A server that closes a connection this soon after it began, without a byte, could not reach
// the target (a refused connection, a name that does not resolve, an unreachable network).
constexpr auto target_failure_window = 5s;

// A server with another password or method drops our requests without a word: it must, since
// it cannot tell us from a prober (docs/troubleshooting.md). So the client says it, when
// several connections in a row sent data and got nothing back. What tells the two silences
// apart: a server with another key keeps the connection open, reading and discarding, until
// the client gives up or the server's deadline passes (libev's, rust's and ours alike); a
// server with our key that cannot reach the target closes it at once. Those closes count
// neither way (a browser's background connections to hosts that are down are no sign of a
// wrong password); a target that swallows the connect is told from a wrong key by nothing,
// and counts.
void note_answer(process_state& st, const relay_summary& s) {
  if (s.down > 0) {
    st.unanswered_in_a_row.store(0, std::memory_order_relaxed);
    return;
  }
  if (s.up == 0) return;  // nothing asked, nothing to expect (a server-speaks-first protocol)
  if (s.target_ended_first && s.first_end_after < target_failure_window) return;
  auto n = st.unanswered_in_a_row.fetch_add(1, std::memory_order_relaxed) + 1;
  std::uint64_t suppressed = 0;
  if (n >= unanswered_before_warning && st.unanswered_warnings.allow(suppressed)) {
    spdlog::warn(
        "the server answered none of the last {} connections that sent data: most likely its "
        "password or method differs from ours (it stays silent on purpose; see "
        "docs/troubleshooting.md), or it cannot reach those destinations",
        n);
  }
}

}  // namespace

awaitable<void> wait_first_data(tcp::socket& client, mutable_bytes buf, std::size_t& have) {
  if (have > 0) co_return;
  boost::system::error_code ec;
  have += read_now(client, buf.subspan(have), ec);
  if (have > 0 || ec != net::error::would_block) co_return;
  deadline limit(client.get_executor());
  limit.arm(first_data_wait, [&client] { client.cancel(); });
  co_await client.async_wait(tcp::socket::wait_read, use_nothrow);
  limit.cancel();
  have += read_now(client, buf.subspan(have), ec);
}

awaitable<server_lookup> resolve_server(const server_entry& s, bool ipv6_first, std::size_t from) {
  server_lookup out{net::error::host_not_found, {}, from};
  while (out.next < s.server_hosts.size()) {
    const auto& host = s.server_hosts[out.next++];
    auto [ec, endpoints] = co_await resolve_within(host, s.server_port, ipv6_first, s.timeout);
    out.ec = ec;
    if (!ec && endpoints.empty()) out.ec = net::error::host_not_found;
    if (!out.ec) {
      out.endpoints = std::move(endpoints);
      break;
    }
  }
  co_return out;
}

server_stream::server_stream(net::any_io_executor ex, std::shared_ptr<service_context> ctx)
    : ctx_(std::move(ctx)), sock_(ex) {}

awaitable<boost::system::error_code> server_stream::connect_server(const upstream& u,
                                                                   const deadline& limit) {
  boost::system::error_code last = net::error::host_not_found;
  if (u.plugin) {
    // SIP003: the plugin carries the connection to the server.
    std::vector<tcp::endpoint> at{*u.plugin};
    last = co_await connect_any(sock_, at, limit, ctx_->to_server());
  } else {
    for (std::size_t next = 0; next < u.cfg.server_hosts.size();) {
      auto found = co_await resolve_server(u.cfg, ctx_->cfg.ipv6_first, next);
      if (found.ec) {
        last = found.ec;
        break;
      }
      last = co_await connect_any(sock_, found.endpoints, limit, ctx_->to_server());
      if (!last || limit.expired()) break;
      next = found.next;
    }
  }
  if (!last) {
    server_ = &u;
    const auto& prefix = u.cfg.prefix;  // Outline's: the first bytes of our salt
    enc_.emplace(aead_stream_encoder::with_prefix(
        *u.cfg.key,
        bytes_view(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size())));
    dec_.emplace(*u.cfg.key, enc_->salt());
  }
  co_return last;
}

awaitable<boost::system::error_code> server_stream::connect_to(const upstream& u,
                                                               const deadline& limit) {
  co_return co_await connect_server(u, limit);
}

awaitable<boost::system::error_code> server_stream::connect_chosen(const deadline& limit) {
  const auto& list = *ctx_->upstreams;
  std::vector<const upstream*> tried;
  boost::system::error_code last = net::error::host_not_found;
  for (;;) {
    const auto* u = choose_upstream(list, false, tried);
    if (u == nullptr) co_return last;
    // While other servers are left, one that does not connect within max_server_rtt is
    // passed over; the last one left has the rest of the timeout.
    std::optional<deadline> attempt;  // only then: one server (the common case) has none
    if (tried.size() + 1 < list.size()) {
      attempt.emplace(sock_.get_executor());
      attempt->arm(ctx_->cfg.balancer.max_server_rtt, [this] { close(); });
    }
    last = co_await connect_server(*u, attempt ? *attempt : limit);
    const bool attempt_expired = attempt && attempt->expired();
    attempt.reset();
    if (!last) {
      u->health->chosen_tcp.fetch_add(1, std::memory_order_relaxed);
      co_return last;
    }
    if (limit.expired()) co_return last;
    if (attempt_expired) last = net::error::timed_out;
    if (list.size() > 1) {
      // Taken out at once: the health checks bring it back.
      log_health_change(*u, u->health->record_connect_failure(),
                        "cannot connect: " + last.message());
    }
    tried.push_back(u);
  }
}

awaitable<boost::system::error_code> server_stream::connect(const target_address& target) {
  deadline limit(sock_.get_executor());
  limit.arm(ctx_->cfg.timeout, [this] { close(); });
  boost::system::error_code ec;
  const auto* list = ctx_->cfg.access_list.get();
  auto route = list != nullptr ? list->route_for(target) : acl::route::proxy;
  std::vector<tcp::endpoint> endpoints;
  if (route == acl::route::resolve) {
    // A name no rule names, while network rules could judge its addresses: resolved here, and
    // sent past the server when one of its addresses is to be (and then to those only).
    auto [rec, found] = co_await resolve_within(target.host_string(), target.port(),
                                                ctx_->cfg.ipv6_first, ctx_->cfg.timeout);
    std::erase_if(found, [list](const tcp::endpoint& ep) {
      return list->route_for(to_target(ep)) != acl::route::bypass;
    });
    route = rec || found.empty() ? acl::route::proxy : acl::route::bypass;
    endpoints = std::move(found);
  }
  if (route == acl::route::bypass) {
    ec = co_await connect_direct(target, std::move(endpoints), limit);
  } else {
    ec = co_await connect_chosen(limit);
  }
  limit.cancel();
  if (limit.expired()) co_return net::error::timed_out;
  co_return ec;
}

awaitable<boost::system::error_code> server_stream::connect_direct(
    const target_address& target, std::vector<tcp::endpoint> endpoints, const deadline& limit) {
  direct_ = true;
  if (endpoints.empty()) {
    auto [ec, found] = co_await resolve_within(target.host_string(), target.port(),
                                               ctx_->cfg.ipv6_first, ctx_->cfg.timeout);
    if (ec) co_return ec;
    endpoints = std::move(found);
  }
  co_return co_await connect_any(sock_, endpoints, limit, ctx_->sockets());
}

awaitable<boost::system::error_code> server_stream::open(const target_address& target,
                                                         bytes_view payload) {
  if (direct_) co_return co_await write(payload);
  // 2017: our salt is recorded so that our stream reflected back at us is refused (the 2022
  // headers are typed instead, SIP022 3.1.5).
  if (!server_->cfg.key->cipher().is_2022()) ctx_->state->replay.insert(enc_->salt());
  // The salt and headers go in one write (SIP022 3.1.4).
  out_.clear();
  enc_->seal_request(target, payload, out_);
  auto [ec, n] = co_await net::async_write(sock_, net::buffer(out_), use_nothrow);
  // Freed before a relay: an idle proxied connection keeps as little memory as possible.
  std::vector<std::uint8_t>().swap(out_);
  co_return ec;
}

awaitable<boost::system::error_code> server_stream::write(bytes_view data) {
  if (data.empty()) co_return boost::system::error_code();
  if (direct_) {
    auto [ec, n] =
        co_await net::async_write(sock_, net::buffer(data.data(), data.size()), use_nothrow);
    co_return ec;
  }
  out_.clear();
  enc_->seal(data, out_);
  auto [ec, n] = co_await net::async_write(sock_, net::buffer(out_), use_nothrow);
  co_return ec;
}

awaitable<std::pair<boost::system::error_code, bytes_view>> server_stream::read_some() {
  if (direct_) {
    in_.resize(16 * 1024);
    auto [ec, n] = co_await sock_.async_read_some(net::buffer(in_), use_nothrow);
    co_return std::pair{ec, bytes_view(in_.data(), ec ? 0 : n)};
  }
  for (;;) {
    auto d = dec_->next();
    if (d.is_error()) {
      co_return std::pair{boost::system::error_code(make_error_code(d.error)), bytes_view()};
    }
    if (d.is_done()) {
      if (!checked_salt_ && !server_->cfg.key->cipher().is_2022()) {
        checked_salt_ = true;
        if (ctx_->state->replay.check_and_insert(dec_->salt())) {
          co_return std::pair{boost::system::error_code(make_error_code(errc::replayed_salt)),
                              bytes_view()};
        }
      }
      if (d.value.empty()) continue;
      co_return std::pair{boost::system::error_code(), d.value};
    }
    auto space = dec_->prepare();
    auto [ec, n] =
        co_await sock_.async_read_some(net::buffer(space.data(), space.size()), use_nothrow);
    if (ec) co_return std::pair{ec, bytes_view()};
    dec_->commit(n);
  }
}

void server_stream::close() noexcept {
  boost::system::error_code ignored;
  sock_.close(ignored);
}

void server_stream::relay(tcp::socket client, active_guard counted, relay_log log) {
  // SIP022 3.1.5: the 2022 edition's typed headers make the response-salt check unnecessary.
  auto opts = relay_options_for(ctx_, !direct_ && !server_->cfg.key->cipher().is_2022());
  opts.counted = std::move(counted);
  opts.log = std::move(log);
  if (direct_) {
    start_plain_relay(std::move(client), std::move(sock_), std::move(opts));
    return;
  }
  opts.on_end = [state = ctx_->state.get()](const relay_summary& s) { note_answer(*state, s); };
  start_relay(std::move(client), std::move(sock_), std::move(*enc_), std::move(*dec_),
              std::move(opts));
}

awaitable<void> forward(accepted& from, const target_address& target,
                        std::unique_ptr<handshake_buffer> handshake, std::size_t have) {
  auto& client = from.socket;
  const auto& ctx = from.ctx;
  const auto& id = from.conn.id;
  const auto& peer = from.conn.peer;
  auto& buf = *handshake;
  auto started = steady_clock::now();
  server_stream up(client.get_executor(), ctx);
  if (auto ec = co_await up.connect(target)) {
    // The SOCKS5 success reply has already gone out (as in libev): closing is the answer.
    // Read what the client already sent first, so that the close is a FIN, not a reset.
    boost::system::error_code ignored;
    while (read_now(client, {buf.data(), buf.size()}, ignored) > 0) {
    }
    if (up.direct()) {
      spdlog::debug("#{} {} -> {}: cannot connect directly (ACL): {}", id, peer, target,
                    ec.message());
    } else if (ctx->upstreams->empty()) {
      spdlog::warn(
          "#{} {} -> {}: no server to go through yet (online_config has brought no "
          "list so far)",
          id, peer, target);
    } else {
      spdlog::warn("#{} {} -> {}: cannot reach the server: {}", id, peer, target, ec.message());
    }
    co_return;
  }
  // Connected first, then the client's first data (sequential: most clients have sent it by
  // the time the connection to the server is up).
  co_await wait_first_data(client, {buf.data(), buf.size()}, have);
  if (auto ec = co_await up.open(target, {buf.data(), have})) {
    spdlog::debug("#{} {} -> {}: server write failed: {}", id, peer, target, ec.message());
    co_return;
  }
  handshake.reset();
  relay_log log{id, {}, started, have, true};
  if (spdlog::should_log(spdlog::level::debug)) {
    log.what = peer.str() + (up.direct() ? " -> (direct) " : " -> ") + target.to_string();
    if (up.server() != nullptr && ctx->upstreams->size() > 1) {
      log.what += " via " + up.server()->label();
    }
  }
  up.relay(std::move(client), std::move(from.conn.guard), std::move(log));
}

namespace {

// Names a UDP association or tunnel session remembers the route of, at most.
constexpr std::size_t max_remembered_names = 1024;

}  // namespace

namespace {

// Sets `mark` on `s` (outbound_fwmark); a refusal is logged.
bool marked(udp::socket& s, std::uint32_t mark) {
  if (set_mark(s.native_handle(), mark)) return true;
  spdlog::warn("UDP: outbound_fwmark refused: {} (it needs CAP_NET_ADMIN)", std::strerror(errno));
  return false;
}

}  // namespace

udp_direct::udp_direct(net::any_io_executor ex, std::shared_ptr<service_context> ctx)
    : ctx_(std::move(ctx)), v4_(ex), v6_(ex) {
  boost::system::error_code ec;
  v4_.open(udp::v4(), ec);
  if (!ec) set_mark(v4_.native_handle(), ctx_->cfg.outbound_fwmark);
  v6_.open(udp::v6(), ec);
  if (!ec) v6_.set_option(net::ip::v6_only(true), ec);
  if (!ec) set_mark(v6_.native_handle(), ctx_->cfg.outbound_fwmark);
}

awaitable<std::optional<udp::endpoint>> udp_direct::route(const target_address& target) {
  const auto* list = ctx_->cfg.access_list.get();
  auto r = list != nullptr ? list->route_for(target) : acl::route::proxy;
  if (r == acl::route::proxy) co_return std::nullopt;
  if (auto ep = to_endpoint(target)) co_return ep;  // an address the list bypasses
  auto key = target.to_string();
  if (auto known = names_.find(key); known != names_.end()) co_return known->second;
  auto [ec, found] = co_await resolve_within(target.host_string(), target.port(),
                                             ctx_->cfg.ipv6_first, ctx_->cfg.timeout);
  std::optional<udp::endpoint> to;
  for (const auto& ep : found) {
    // A name the list bypasses goes to its first address; a name judged by its addresses, to
    // the first the list bypasses. A name that does not resolve here goes through the server.
    if (r == acl::route::bypass || list->route_for(to_target(ep)) == acl::route::bypass) {
      to = udp::endpoint(plain_address(ep.address()), ep.port());
      break;
    }
  }
  if (names_.size() >= max_remembered_names) names_.clear();
  names_.emplace(std::move(key), to);
  co_return to;
}

void udp_direct::send(const udp::endpoint& to, bytes_view data) {
  auto& s = to.address().is_v4() ? v4_ : v6_;
  if (!s.is_open()) return;
  if (sent_to_.size() >= max_remembered_names * 4) sent_to_.clear();
  sent_to_.insert(to);
  send_now(s, data, to, "directly to the target");
}

awaitable<std::optional<std::pair<udp::endpoint, mutable_bytes>>> udp_direct::receive(bool v6) {
  auto& s = v6 ? v6_ : v4_;
  auto& in = v6 ? in6_ : in4_;
  if (!s.is_open() && !closed_) {
    // No socket of this family: nothing will ever come (the caller ends by cancellation).
    net::steady_timer never(s.get_executor(), steady_clock::time_point::max());
    co_await never.async_wait(use_nothrow);
    co_return std::nullopt;
  }
  in.resize(headroom + datagram_buffer);
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await receive_datagram(s, {in.data() + headroom, datagram_buffer}, from);
    if (ec == net::error::operation_aborted || !s.is_open()) co_return std::nullopt;
    if (ec) continue;
    from = udp::endpoint(plain_address(from.address()), from.port());
    if (!sent_to_.contains(from)) continue;  // only from where we sent
    co_return std::pair{from, mutable_bytes(in.data() + headroom, n)};
  }
}

void udp_direct::close() {
  closed_ = true;
  boost::system::error_code ignored;
  v4_.close(ignored);
  v6_.close(ignored);
}

// Room a sealed datagram needs beyond its payload: salt and tag (2017), or the separate
// header or nonce, main header and tag (2022).
constexpr std::size_t max_udp_overhead = 128;

udp_upstream::udp_upstream(net::any_io_executor ex)
    : sock_(ex), out_(datagram_buffer + max_udp_overhead), in_(datagram_buffer) {}

namespace {

// Where datagrams to server `u` go: its SIP003u plugin (plugin_mode tcp_and_udp), or the
// first address of the first of its hosts that resolves.
awaitable<std::optional<udp::endpoint>> udp_destination(const upstream& u, bool ipv6_first) {
  if (u.plugin && u.cfg.plugin_udp) co_return udp::endpoint(u.plugin->address(), u.plugin->port());
  auto found = co_await resolve_server(u.cfg, ipv6_first, 0);
  if (found.ec) co_return std::nullopt;
  const auto& ep = found.endpoints.front();
  co_return udp::endpoint(ep.address(), ep.port());
}

}  // namespace

awaitable<bool> udp_upstream::open(const service_context& ctx) {
  const auto& list = *ctx.upstreams;
  std::vector<const upstream*> tried;
  while (const auto* u = choose_upstream(list, true, tried)) {
    tried.push_back(u);
    auto to = co_await udp_destination(*u, ctx.cfg.ipv6_first);
    if (!to) continue;
    server_ = *to;
    boost::system::error_code ec;
    sock_.close(ec);
    sock_.open(server_.protocol(), ec);
    if (ec || !marked(sock_, ctx.cfg.outbound_fwmark)) continue;
    const auto& key = *u->cfg.key;
    cipher_.emplace(key);
    if (key.cipher().is_2022()) {
      codec_ = std::make_unique<sip022::udp_codec>(key);
      session_.emplace(*codec_);
    }
    u->health->chosen_udp.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }
  co_return false;
}

void udp_upstream::send(bytes_view payload) {
  auto n = session_ ? session_->seal(*codec_, payload, mutable_bytes(out_))
                    : cipher_->seal(payload, mutable_bytes(out_));
  send_now(sock_, {out_.data(), n}, server_, "to the server");
}

awaitable<std::optional<mutable_bytes>> udp_upstream::receive() {
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await receive_datagram(sock_, mutable_bytes(in_), from);
    if (ec == net::error::operation_aborted || !sock_.is_open()) co_return std::nullopt;
    if (ec || from != server_) continue;
    // Forged, corrupted, replayed or of another session: dropped without a trace.
    bytes_view plain;
    if (session_) {
      auto opened = session_->open(*codec_, {in_.data(), n});
      if (!opened) continue;
      plain = *opened;
    } else {
      auto opened = cipher_->open({in_.data(), n});
      if (!opened) continue;
      plain = *opened;
    }
    if (!decode_address(plain).is_done()) continue;
    auto offset = static_cast<std::size_t>(plain.data() - in_.data());
    co_return mutable_bytes(in_.data() + offset, plain.size());
  }
}

void udp_upstream::close() {
  boost::system::error_code ignored;
  sock_.close(ignored);
}

}  // namespace ss
