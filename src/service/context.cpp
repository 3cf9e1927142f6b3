#include "shadowsocks/service/context.hpp"

#include <spdlog/spdlog.h>

namespace ss {

connection::connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from)
    : guard(ctx.state->active), id(ctx.state->next_id++), peer(to_string(from)) {
  tune_socket(s, ctx.sockets());
}

void note_datagram_size(const config& c, std::size_t n) {
  // What libev leaves of the MTU for a datagram's payload: mtu - 1 - 28 - 2 - 64.
  constexpr std::size_t overhead = 1 + 28 + 2 + 64;
  if (c.mtu == 0 || n + overhead <= c.mtu) return;
  spdlog::debug("UDP datagram of {} bytes will be fragmented: an MTU of {} leaves room for {}", n,
                c.mtu, c.mtu - overhead);
}

relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay) {
  relay_options opts;
  opts.idle_timeout = ctx->cfg.timeout;
  // SIP022 3.1.5: the 2022 edition's typed headers make the response-salt check unnecessary.
  bool is_2022 = ctx->cfg.key->cipher().is_2022();
  opts.check_replay = check_replay && !is_2022 ? &ctx->state->replay : nullptr;
  opts.active = &ctx->state->active;
  opts.owner = ctx;
  return opts;
}

}  // namespace ss
