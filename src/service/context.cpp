#include "shadowsocks/service/context.hpp"

namespace ss {

connection::connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from)
    : guard(ctx.state->active), id(ctx.state->next_id++), peer(to_string(from)) {
  tune_socket(s, ctx.sockets());
}

relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay) {
  relay_options opts;
  opts.idle_timeout = ctx->cfg.timeout;
  opts.check_replay = check_replay ? &ctx->state->replay : nullptr;
  opts.active = &ctx->state->active;
  opts.owner = ctx;
  return opts;
}

}  // namespace ss
