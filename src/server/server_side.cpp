// ss-server: one client connection: its request (client_stream.hpp), the connection to the
// target it names, the relay.

#include <spdlog/spdlog.h>

#include "client_stream.hpp"
#include "shadowsocks/runtime/deadline.hpp"
#include "shadowsocks/runtime/relay.hpp"
#include "shadowsocks/runtime/resolve.hpp"
#include "shadowsocks/runtime/socket_io.hpp"
#include "shadowsocks/server/fronts.hpp"

namespace ss {

namespace {

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
// outbound guard allow, within what is left of the deadline `limit` fixed when `client` was
// accepted.
awaitable<boost::system::error_code> connect_target(tcp::socket& remote,
                                                    const target_address& target,
                                                    const accepted& client, const deadline& limit) {
  const auto& ctx = *client.ctx;
  const auto& conn = client.conn;
  const auto& c = ctx.cfg;
  const auto* list = c.access_list.get();
  if (list != nullptr && list->outbound_blocked(target)) {
    note_blocked_target(ctx, conn, target);
    co_return make_error_code(boost::system::errc::permission_denied);
  }
  auto [ec, endpoints] =
      co_await resolve_within(target.host_string(), target.port(), c.ipv6_first,
                              client.at + c.timeout - steady_clock::now(), c.nameserver);
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

}  // namespace

awaitable<void> serve_shadowsocks(tcp::socket socket, tcp::endpoint from,
                                  std::shared_ptr<service_context> context) {
  accepted client(std::move(socket), from, std::move(context));
  const auto& c = client.ctx->cfg;
  const auto& id = client.conn.id;
  const auto& peer = client.conn.peer;
  // A client the ACL refuses is closed at once, before a byte is read (as libev does).
  if (c.access_list && c.access_list->client_refused(to_target(from))) {
    spdlog::debug("#{} {}: client refused by the ACL", id, peer);
    co_return;
  }

  // One deadline, fixed at accept time, for the request header, DNS and connect: it never
  // depends on how many bytes arrived. When it passes it closes the sockets, which ends
  // whatever is pending.
  tcp::socket remote(client.socket.get_executor());
  deadline limit(client.socket.get_executor());
  limit.arm(c.timeout, [&client, &remote] {
    boost::system::error_code ignored;
    client.socket.close(ignored);
    remote.close(ignored);
  });

  client_stream stream(client);
  auto request = co_await stream.read_request();
  if (co_await stream.failed(request, limit)) co_return;
  const auto& target = request.header.value;
  // Every later line of the connection names its user (or its key, on a port with several).
  client.conn.peer.user = stream.user_name();

  auto ec = co_await connect_target(remote, target, client, limit);
  limit.cancel();
  if (ec) {
    // An unreachable target ends the connection quietly, as in libev.
    spdlog::debug("#{} {} -> {}: cannot connect: {}", id, peer, target, ec.message());
    co_return;
  }
  relay_log log{id, {}, client.at, 0, false};
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("#{} {}: connected to {}", id, peer, target);
    log.what = peer.str() + " -> " + target.to_string();
  }
  co_await stream.relay(std::move(remote), request.header.consumed, std::move(log));
}

}  // namespace ss
