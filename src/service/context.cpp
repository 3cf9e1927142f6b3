#include "shadowsocks/service/context.hpp"

#include <spdlog/spdlog.h>

namespace ss {

connection::connection(service_context& ctx, tcp::socket& s, const tcp::endpoint& from)
    : guard(ctx.state->active), id(ctx.state->next_id++), peer{from} {
  tune_socket(s, ctx.sockets());
}

std::string peer_address::str() const {
  std::string s = to_string(endpoint);
  if (user != nullptr) {
    s += " (";
    s += *user;
    s += ')';
  }
  return s;
}

void note_datagram_size(const config& c, std::size_t n) {
  // What libev leaves of the MTU for a datagram's payload: mtu - 1 - 28 - 2 - 64.
  constexpr std::size_t overhead = 1 + 28 + 2 + 64;
  if (c.mtu == 0 || n + overhead <= c.mtu) return;
  spdlog::debug("UDP datagram of {} bytes will be fragmented: an MTU of {} leaves room for {}", n,
                c.mtu, c.mtu - overhead);
}

const std::shared_ptr<traffic_counters>& server_accounting::of(std::optional<std::size_t> key_index,
                                                               const sip022::user* user) const {
  if (key_index && *key_index < keys.size()) return keys[*key_index];
  if (user != nullptr) {
    if (auto it = users.find(user->name); it != users.end()) return it->second;
  }
  return single;
}

std::string key_owner(const config& c, std::uint16_t port) {
  return c.name.empty() ? std::to_string(port) : c.name;
}

std::shared_ptr<const server_accounting> make_accounting(
    const config& c, std::uint16_t port, traffic_registry& registry,
    std::set<std::pair<std::uint16_t, std::string>>* users) {
  auto a = std::make_shared<server_accounting>();
  a->port = port;
  auto add = [&](const std::string& name) {
    if (users != nullptr) users->insert({port, name});
    return registry.user(port, name);
  };
  a->failures = registry.port(port);
  if (c.keys) {
    for (const auto& m : c.keys->members())
      a->keys.push_back(add(m.name));
  } else if (c.users) {
    for (const auto& u : c.users->all())
      a->users.emplace(u->name, add(u->name));
  } else {
    a->single = add(key_owner(c, port));
  }
  return a;
}

relay_options relay_options_for(const std::shared_ptr<service_context>& ctx, bool check_replay) {
  relay_options opts;
  opts.idle_timeout = ctx->cfg.timeout;
  opts.check_replay = check_replay ? &ctx->state->replay : nullptr;
  opts.owner = ctx;
  return opts;
}

}  // namespace ss
