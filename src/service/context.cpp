#include "shadowsocks/service/context.hpp"

namespace ss {

connection::connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from)
    : guard(ctx.state->active), id(ctx.state->next_id++), peer(to_string(from)) {
  tune_socket(s, ctx.sockets());
}

relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay) {
  return {ctx->cfg.timeout, check_replay ? &ctx->state->replay : nullptr, &ctx->state->active, ctx};
}

}  // namespace ss
