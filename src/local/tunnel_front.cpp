// ss-tunnel's front: every TCP connection and every UDP sender goes to the fixed `-L`
// destination through the server.

#include <spdlog/spdlog.h>

#include "outbound.hpp"
#include "shadowsocks/local/fronts.hpp"
#include "shadowsocks/service/udp_relay_state.hpp"

namespace ss {

namespace {

// One sender of datagrams to the tunnel's port, with its own socket to the server.
struct tunnel_session {
  tunnel_session(net::any_io_executor ex, std::shared_ptr<service_context> c)
      : ctx(std::move(c)), up(ex) {}
  std::shared_ptr<service_context> ctx;  // the configuration the session started under
  udp::endpoint sender;
  udp_upstream up;
  std::unique_ptr<udp_direct> direct;      // with an ACL
  std::optional<udp::endpoint> direct_to;  // set when the ACL sends the destination past the server
  void close() {
    up.close();
    if (direct) direct->close();
  }
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

// Answers of the destination when the ACL bypasses the server, to the sender.
awaitable<void> tunnel_direct_loop(std::shared_ptr<udp_tunnel_state> st,
                                   std::shared_ptr<tunnel_session> s) {
  for (;;) {
    auto got = co_await s->direct->receive(s->direct_to->address().is_v6());
    if (!got) co_return;
    st->table.touch(s->sender);
    send_now(*st->sock, got->second, s->sender, "to the sender");
  }
}

}  // namespace

awaitable<void> serve_tunnel(tcp::socket client, tcp::endpoint from,
                             std::shared_ptr<service_context> ctx) {
  accepted a(std::move(client), from, std::move(ctx));
  co_await forward(a, *a.ctx->cfg.tunnel_target, std::make_unique<handshake_buffer>(), 0);
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
      if (s->ctx->cfg.access_list) {
        s->direct = std::make_unique<udp_direct>(sock->get_executor(), s->ctx);
        s->direct_to = co_await s->direct->route(*s->ctx->cfg.tunnel_target);
      }
      if (s->direct_to) {
        net::co_spawn(sock->get_executor(), tunnel_direct_loop(st, s), log_exception);
      } else {
        if (!co_await s->up.open(*s->ctx)) {
          spdlog::warn("UDP tunnel: the server does not resolve");
          continue;
        }
        net::co_spawn(sock->get_executor(), tunnel_reply_loop(st, s), log_exception);
      }
      st->table.insert(sender, s);
    }
    note_datagram_size(s->ctx->cfg, n);
    if (s->direct_to) {
      s->direct->send(*s->direct_to, {buf.data() + headroom, n});
    } else {
      s->up.send(prepend_address(*s->ctx->cfg.tunnel_target, buf.data() + headroom, n));
    }
  }
  st->table.clear();
}

}  // namespace ss
