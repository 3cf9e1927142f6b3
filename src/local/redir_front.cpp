// ss-redir's front: TCP connections and UDP datagrams that the firewall sent here instead of
// to where they were going (nftables or iptables REDIRECT, or TPROXY), each carried through
// the server (or, by the ACL, directly) to that original destination. docs/redir.md.

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "outbound.hpp"
#include "shadowsocks/local/fronts.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/service/udp_relay_state.hpp"

namespace ss {

namespace {

// Where a redirected connection was going. REDIRECT: the connection tracker's original
// destination; TPROXY: the socket's own local address, which is the destination itself.
std::optional<tcp::endpoint> original_destination(tcp::socket& s, const tcp::endpoint& from,
                                                  bool tproxy) {
  if (!tproxy) return platform::redirected_destination(s, from);
  boost::system::error_code ec;
  tcp::endpoint ep = s.local_endpoint(ec);
  if (ec) return std::nullopt;
  return ep;
}

// A connection made to the port itself, not redirected to it: its "original destination" is
// the port, and carrying it there would come back. REDIRECT: the connection tracker's
// destination is the socket's own address (or it has none); TPROXY: the destination is the
// configured port.
bool looped(tcp::socket& s, const tcp::endpoint& dst, const service_context& ctx) {
  if (ctx.cfg.tcp_tproxy) return ctx.cfg.local_port != 0 && dst.port() == ctx.cfg.local_port;
  boost::system::error_code ec;
  auto local = s.local_endpoint(ec);
  return ec || (plain_address(local.address()) == plain_address(dst.address()) &&
                local.port() == dst.port());
}

}  // namespace

awaitable<void> serve_redir(tcp::socket client, tcp::endpoint from,
                            std::shared_ptr<service_context> ctx) {
  accepted a(std::move(client), from, std::move(ctx));
  const auto& conn = a.conn;
  auto dst = original_destination(a.socket, from, a.ctx->cfg.tcp_tproxy);
  if (dst && looped(a.socket, *dst, *a.ctx)) dst.reset();
  if (!dst) {
    // Anyone who can reach the port can make these: rate-limited.
    std::uint64_t suppressed = 0;
    if (a.ctx->state->refused_clients.allow(suppressed)) {
      spdlog::warn("#{} {}: not redirected here by the firewall ({}): closed{}", conn.id, conn.peer,
                   a.ctx->cfg.tcp_tproxy ? "TPROXY" : "no original destination",
                   suppressed ? fmt::format(" ({} more not logged)", suppressed) : "");
    }
    co_return;
  }
  co_await forward(a, to_target(*dst), std::make_unique<handshake_buffer>(), 0);
}

namespace {

// A socket that answers a client from the address it sent to (IP_TRANSPARENT: bound to an
// address that is not the host's). One per original destination, forgotten after the UDP
// timeout like the associations.
struct reply_socket {
  explicit reply_socket(net::any_io_executor ex) : sock(ex) {}
  udp::socket sock;
  void close() {
    boost::system::error_code ignored;
    sock.close(ignored);
  }
};

// Opens a socket bound to `at` (not a local address) to answer from, marked like the
// daemon's other sockets (so that rules for the machine's own traffic pass the answers by).
std::shared_ptr<reply_socket> open_reply_socket(net::any_io_executor ex, const udp::endpoint& at,
                                                std::uint32_t mark, boost::system::error_code& ec) {
  auto r = std::make_shared<reply_socket>(ex);
  r->sock.open(at.protocol(), ec);
  if (ec) return nullptr;
  platform::socket_handle fd = r->sock.native_handle();
  if (auto refused = platform::make_transparent(fd, at.address().is_v6(), false)) {
    ec.assign(refused.value(), boost::system::system_category());
    return nullptr;
  }
  r->sock.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return nullptr;
  if (!set_mark(fd, mark)) {
    ec.assign(errno, boost::system::system_category());
    return nullptr;
  }
  r->sock.bind(at, ec);
  if (ec) return nullptr;
  return r;
}

// One client of the UDP port: its own socket to the server (and one past it, with an ACL).
struct redir_session {
  redir_session(net::any_io_executor ex, std::shared_ptr<service_context> c)
      : ctx(std::move(c)), up(ex) {}
  std::shared_ptr<service_context> ctx;  // the configuration the session started under
  udp::endpoint client;
  udp_upstream up;
  bool up_open = false;
  std::unique_ptr<udp_direct> direct;  // with an ACL
  std::array<bool, 2> direct_loop{};   // a loop reads that family's direct answers
  void close() {
    up.close();
    if (direct) direct->close();
  }
};

struct udp_redir_state : udp_relay_state<redir_session> {
  using udp_relay_state::udp_relay_state;
  // Answering sockets, by the original destination they answer from.
  nat_table<udp::endpoint, reply_socket> repliers{4096, ctx->cfg.udp_timeout};
  /// The periodic expiry (expire_loop): silent answering sockets are closed too.
  void expire_more() { repliers.expire(); }
};

// Sends `data` to the session's client from `source` (where the client sent to).
void answer(udp_redir_state& st, const redir_session& s, const udp::endpoint& source,
            bytes_view data) {
  udp::endpoint from(plain_address(source.address()), source.port());
  auto r = st.repliers.find(from);
  if (!r) {
    boost::system::error_code ec;
    r = open_reply_socket(st.sock->get_executor(), from, s.ctx->cfg.outbound_fwmark, ec);
    if (!r) {
      spdlog::debug("UDP answer from {} dropped: cannot bind there: {}", to_string(from),
                    ec.message());
      return;
    }
    st.repliers.insert(from, r);
  }
  // The client as the answering socket's family sees it (an IPv4 client of a dual-stack port
  // comes as ::ffff:a.b.c.d).
  udp::endpoint to(plain_address(s.client.address()), s.client.port());
  if (to.address().is_v4() != from.address().is_v4()) return;
  send_now(r->sock, data, to, "to the client");
}

awaitable<void> redir_reply_loop(std::shared_ptr<udp_redir_state> st,
                                 std::shared_ptr<redir_session> s) {
  for (;;) {
    auto payload = co_await s->up.receive();
    if (!payload) co_return;
    st->table.touch(s->client);
    // The answer names where it came from: the client must see it come from there.
    auto a = decode_address(*payload);
    if (!a.is_done()) continue;
    auto source = to_endpoint(a.value);
    if (!source) continue;
    answer(*st, *s, *source, payload->subspan(a.consumed));
  }
}

awaitable<void> redir_direct_loop(std::shared_ptr<udp_redir_state> st,
                                  std::shared_ptr<redir_session> s, bool v6) {
  for (;;) {
    auto got = co_await s->direct->receive(v6);
    if (!got) co_return;
    st->table.touch(s->client);
    answer(*st, *s, got->first, got->second);
  }
}

// The next datagram, waiting for one when there is none.
awaitable<boost::system::error_code> receive_redirected(udp::socket& s, mutable_bytes into,
                                                        std::size_t& n, udp::endpoint& from,
                                                        std::optional<udp::endpoint>& to) {
  for (;;) {
    ssize_t got = platform::receive_with_destination(s.native_handle(), into, from, to);
    if (got >= 0) {
      n = static_cast<std::size_t>(got);
      co_return boost::system::error_code{};
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      co_return boost::system::error_code(errno, boost::system::system_category());
    }
    auto [wec] = co_await s.async_wait(udp::socket::wait_read, use_nothrow);
    if (wec) co_return wec;
  }
}

}  // namespace

awaitable<void> run_udp_redir(std::shared_ptr<udp::socket> sock, const context_slot& slot) {
  auto st = std::make_shared<udp_redir_state>(sock, slot.load());
  net::co_spawn(sock->get_executor(), expire_loop(st), log_exception);
  std::vector<std::uint8_t> buf(headroom + datagram_buffer);
  for (;;) {
    udp::endpoint client;
    std::optional<udp::endpoint> to;
    std::size_t n = 0;
    auto ec =
        co_await receive_redirected(*sock, {buf.data() + headroom, datagram_buffer}, n, client, to);
    if (ec == net::error::operation_aborted || !sock->is_open()) break;
    if (ec) continue;
    if (!to) {
      spdlog::debug("UDP datagram from {} dropped: not redirected here by TPROXY",
                    to_string(client));
      continue;
    }
    auto target = to_target(*to);
    auto s = st->table.find(client);
    if (!s) {
      s = std::make_shared<redir_session>(sock->get_executor(), slot.load());
      s->client = client;
      if (s->ctx->cfg.access_list) {
        s->direct = std::make_unique<udp_direct>(sock->get_executor(), s->ctx);
      }
      st->table.insert(client, s);
      st->note_size();
    }
    note_datagram_size(s->ctx->cfg, n);
    if (s->direct) {
      if (auto direct_to = co_await s->direct->route(target)) {
        bool v6 = direct_to->address().is_v6();
        if (!s->direct_loop[v6]) {
          s->direct_loop[v6] = true;
          net::co_spawn(sock->get_executor(), redir_direct_loop(st, s, v6), log_exception);
        }
        s->direct->send(*direct_to, {buf.data() + headroom, n});
        continue;
      }
    }
    if (!s->up_open) {
      if (!co_await s->up.open(*s->ctx)) {
        spdlog::warn("UDP redir: the server does not resolve");
        continue;
      }
      s->up_open = true;
      net::co_spawn(sock->get_executor(), redir_reply_loop(st, s), log_exception);
    }
    s->up.send(prepend_address(target, buf.data() + headroom, n));
  }
  st->table.clear();
  st->repliers.clear();
  st->note_size();
}

}  // namespace ss
