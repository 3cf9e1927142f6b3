#include "servers.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/local/balancer.hpp"

namespace ss {

namespace {

// How long a plugin may take to listen when it starts.
constexpr std::chrono::milliseconds plugin_start_limit{10000};
// How long a removed server's plugin may take to stop.
constexpr std::chrono::milliseconds plugin_stop_grace{3000};

// The configurations a program serves: one for each of ss-server's servers, or the one
// local port.
std::vector<config> served(const program_profile& profile, const config& c) {
  if (!profile.listens_on_server_keys) return {c};
  std::vector<config> each;
  for (const auto& s : c.servers)
    each.push_back(serving(c, s));
  return each;
}

// What tells a port apart across reloads: its port number, or for port 0 (the kernel picks)
// its name.
std::string identity_of(const program_profile& profile, const config& c) {
  auto port = listen_port(profile, c);
  return port != 0 ? std::to_string(port) : "name " + c.name;
}

// The settings a port's sockets were made with: when they change, it is bound again.
bool same_listeners(const program_profile& profile, const config& a, const config& b) {
  return listen_hosts(profile, a) == listen_hosts(profile, b) &&
         listens_tcp(profile, a) == listens_tcp(profile, b) &&
         listens_udp(profile, a) == listens_udp(profile, b) &&
         a.plugin.empty() == b.plugin.empty() && a.plugin_udp == b.plugin_udp;
}

// "server alice (port 8388)" for the log; "port 8388" for an unnamed one.
std::string describe(const config& c, std::uint16_t port) {
  // A port_password (or manager) server is named by its port already.
  bool named = !c.name.empty() && c.name != std::to_string(port);
  std::string text = named ? "server " + c.name + " " : std::string();
  text += "port ";
  text += std::to_string(port);
  return text;
}

}  // namespace

/// A client's plugin: one for each of its servers that has one.
struct client_plugin {
  tcp::endpoint at;  // where it listens
  std::unique_ptr<plugin_supervisor> supervisor;
  bool started = false;
};

/// One served port.
struct server_set::port {
  std::shared_ptr<context_slot> slot;         // its configuration, for new connections
  listener_set listeners;                     // its sockets
  std::optional<plugin_addresses> plugin_at;  // ss-server: where its plugin listens and forwards
  std::unique_ptr<plugin_supervisor> plugin;  // ss-server: started by start_plugins or open
  // Clients: the plugins of their servers, by the server's identity.
  std::map<std::string, client_plugin> plugins;
  std::vector<server_entry> online;         // clients: the servers of the SIP008 document
  std::unique_ptr<health_checker> checker;  // clients: checks their servers
  config cfg() const { return slot->load()->cfg; }
};

server_set::server_set(net::io_context& control, const program_profile& profile,
                       worker_pool& workers, std::shared_ptr<process_state> state)
    : control_(control), profile_(profile), workers_(workers), state_(std::move(state)) {}

server_set::~server_set() = default;

// Binds `c`'s port (behind its plugin on ss-server; with a loopback port picked for the
// plugin on a client); serves it at once when `serve_now`. Null, the reason logged, when it
// cannot be bound.
std::unique_ptr<server_set::port> server_set::open(const config& c, bool serve_now) {
  auto p = std::make_unique<port>();
  auto bound = c.plugin.empty() || !profile_.listens_on_server_keys
                   ? workers_.bind(profile_, c)
                   : workers_.bind_behind_plugin(profile_, c);
  if (!bound) {
    const auto& failed = bound.error();
    spdlog::error("cannot listen on {} port {}: {}{}", failed.host, failed.port,
                  failed.error.message(), failed.why);
    return nullptr;
  }
  p->listeners = std::move(bound).value();
  p->slot = std::make_shared<context_slot>(context_for(*p, c));
  if (!c.plugin.empty() && profile_.listens_on_server_keys) {
    p->plugin_at =
        plugin_addresses{c.server_hosts.front(), c.server_port, "127.0.0.1", p->listeners.port};
  }
  if (!profile_.listens_on_server_keys) {
    p->checker = std::make_unique<health_checker>(control_.get_executor(), p->slot);
  }
  if (serve_now) {
    if (!start_plugin(*p, c)) {
      close(*p);
      return nullptr;
    }
    workers_.serve(p->listeners, profile_, p->slot);
    if (p->checker) p->checker->start();
  }
  return p;
}

// Starts `p`'s plugin (if it has one) under `c` and waits until it listens: the public port
// on a server, the local one on a client (one for each of its servers that has a plugin and
// has not started it yet). False, the reason logged, when one does not.
bool server_set::start_plugin(port& p, const config& c) {
  if (!start_client_plugins(p)) return false;
  if (!p.plugin_at) return true;
  auto listen =
      profile_.listens_on_server_keys ? p.plugin_at->remote_port : p.plugin_at->local_port;
  p.plugin = std::make_unique<plugin_supervisor>(control_, c, *p.plugin_at, listen);
  if (auto started = p.plugin->start(plugin_start_limit); !started) {
    spdlog::error("{}", started.error().message);
    return false;
  }
  return true;
}

// The plugins of a client's servers not started yet: each started, and waited for until it
// listens. False, the reason logged, when one does not.
bool server_set::start_client_plugins(port& p) {
  bool all = true;
  for (auto& [id, cp] : p.plugins) {
    if (cp.started) continue;
    cp.started = true;
    if (auto started = cp.supervisor->start(plugin_start_limit); !started) {
      spdlog::error("{}", started.error().message);
      all = false;
    }
  }
  return all;
}

std::shared_ptr<service_context> server_set::context_for(port& p, const config& c) {
  auto ctx = std::make_shared<service_context>(c, state_);
  // ss-server counts each user's traffic, on the port it is bound to.
  if (profile_.listens_on_server_keys) {
    ctx->accounting = make_accounting(c, p.listeners.port, state_->traffic);
  } else {
    ctx->upstreams = upstreams_for(p, c);
  }
  return ctx;
}

// A client's servers under `c`: those of its configuration, then those of its SIP008
// document (a server in both once). A server already in the list keeps its health; one with
// a plugin gets the plugin (made now if it is new; started by start_plugin); the plugins of
// servers gone are stopped (the connections through them end).
std::shared_ptr<const upstream_list> server_set::upstreams_for(port& p, const config& c) {
  std::map<std::string, std::shared_ptr<server_health>> known;
  if (p.slot) {
    if (auto old = p.slot->load(); old && old->upstreams) {
      for (const auto& u : *old->upstreams)
        known[u->identity()] = u->health;
    }
  }
  auto list = std::make_shared<upstream_list>();
  std::set<std::string> ids;
  std::set<std::uint16_t> plugin_ports;
  for (const auto& [id, cp] : p.plugins)
    plugin_ports.insert(cp.at.port());
  auto add = [&](const server_entry& s) {
    auto u = std::make_shared<upstream>();
    u->cfg = s;
    auto id = u->identity();
    if (!ids.insert(id).second) return;
    auto health = known.find(id);
    u->health = health != known.end() ? health->second : std::make_shared<server_health>();
    if (!s.plugin.empty()) {
      auto& cp = p.plugins[id];
      if (!cp.supervisor) {
        // It listens on a loopback port picked now; connections to the server go there.
        std::uint16_t local = 0;
        do {
          local = free_loopback_port();
        } while (plugin_ports.contains(local));
        plugin_ports.insert(local);
        cp.at = tcp::endpoint(net::ip::address_v4::loopback(), local);
        cp.supervisor = std::make_unique<plugin_supervisor>(
            control_, s,
            plugin_addresses{s.server_hosts.front(), s.server_port, "127.0.0.1", local}, local);
      }
      u->plugin = cp.at;
    }
    list->push_back(std::move(u));
  };
  for (const auto& s : c.servers)
    add(s);
  for (const auto& s : p.online)
    add(s);
  for (auto it = p.plugins.begin(); it != p.plugins.end();) {
    if (ids.contains(it->first)) {
      ++it;
      continue;
    }
    it->second.supervisor->stop(plugin_stop_grace);
    it = p.plugins.erase(it);
  }
  return list;
}

void server_set::forget_removed_users() {
  std::set<std::pair<std::uint16_t, std::string>> users;
  std::set<std::uint16_t> ports;
  for (const auto& [id, p] : ports_) {
    auto ctx = p->slot->load();
    if (!ctx->accounting) continue;
    ports.insert(p->listeners.port);
    make_accounting(ctx->cfg, p->listeners.port, state_->traffic, &users);
  }
  state_->traffic.retain(users, ports);
}

void server_set::close(port& p) {
  workers_.close(p.listeners, true);
  if (p.checker) p.checker->stop();
  if (p.plugin) p.plugin->stop(plugin_stop_grace);
  for (auto& [id, cp] : p.plugins)
    cp.supervisor->stop(plugin_stop_grace);
}

bool server_set::bind(const config& c) {
  for (const auto& one : served(profile_, c)) {
    auto p = open(one, false);
    if (!p) return false;
    ports_[identity_of(profile_, one)] = std::move(p);
  }
  return true;
}

bool server_set::start_plugins() {
  for (auto& [id, p] : ports_) {
    if (!start_plugin(*p, p->cfg())) return false;
  }
  return true;
}

void server_set::serve() {
  for (auto& [id, p] : ports_) {
    workers_.serve(p->listeners, profile_, p->slot);
    if (p->checker) p->checker->start();
  }
  serving_ = true;
}

void server_set::set_online_servers(std::vector<server_entry> servers) {
  for (auto& [id, p] : ports_) {
    p->online = servers;
    auto c = p->cfg();
    p->slot->store(context_for(*p, c));
    if (serving_) start_client_plugins(*p);
  }
}

std::string server_set::apply(const config& c) {
  auto wanted = served(profile_, c);
  std::map<std::string, const config*> by_id;
  for (const auto& one : wanted)
    by_id[identity_of(profile_, one)] = &one;
  int added = 0, removed = 0, rebound = 0, failed = 0;
  // Removed ports first: one may come back under another name in the same reload.
  for (auto it = ports_.begin(); it != ports_.end();) {
    if (by_id.contains(it->first)) {
      ++it;
      continue;
    }
    spdlog::info("{}: removed; its open connections go on",
                 describe(it->second->cfg(), it->second->listeners.port));
    close(*it->second);
    it = ports_.erase(it);
    ++removed;
  }
  for (const auto& [id, next] : by_id) {
    auto it = ports_.find(id);
    if (it != ports_.end() && same_listeners(profile_, it->second->cfg(), *next)) {
      // Same sockets: new connections get the new configuration, open ones keep theirs.
      it->second->slot->store(context_for(*it->second, *next));
      if (it->second->plugin) it->second->plugin->update(*next);
      start_client_plugins(*it->second);  // a client's new servers' plugins
      continue;
    }
    if (it != ports_.end()) {
      close(*it->second);
      ports_.erase(it);
      ++rebound;
    } else {
      ++added;
    }
    auto p = open(*next, serving_);
    if (!p) {
      ++failed;
      continue;
    }
    spdlog::info("{}", startup_line(profile_, *next, join(p->listeners.addresses)));
    ports_[id] = std::move(p);
  }
  forget_removed_users();
  if (wanted.size() == 1 && added + removed + rebound + failed == 0) {
    // One port, as before: what its configuration is now.
    const auto& first = wanted.front();
    if (!profile_.listens_on_server_keys) {
      // A client: its servers.
      auto list = upstreams();
      std::string what = std::to_string(list->size()) + " server(s)";
      if (list->size() == 1) {
        what += " (" + list->front()->label() + ", method " +
                std::string(list->front()->cfg.key->cipher().name) + ")";
      }
      if (first.local_users) {
        what += ", " + std::to_string(first.local_users->size()) + " proxy user(s)";
      }
      return what + ", timeout " + std::to_string(first.timeout.count()) + " s";
    }
    std::string what = "method " + std::string(first.key->cipher().name);
    if (first.users) what += ", " + std::to_string(first.users->all().size()) + " user(s)";
    if (first.keys) what += ", " + std::to_string(first.keys->size()) + " keys";
    if (first.local_users) {
      what += ", " + std::to_string(first.local_users->size()) + " proxy user(s)";
    }
    return what + ", timeout " + std::to_string(first.timeout.count()) + " s";
  }
  std::string what = std::to_string(ports_.size()) + " server(s)";
  what += ": " + std::to_string(added) + " added, " + std::to_string(removed) + " removed, " +
          std::to_string(rebound) + " bound again";
  if (failed > 0) what += ", " + std::to_string(failed) + " could not be bound (see above)";
  return what;
}

std::shared_ptr<const upstream_list> server_set::upstreams() const {
  for (const auto& [id, p] : ports_) {
    if (auto ctx = p->slot->load(); ctx->upstreams) return ctx->upstreams;
  }
  return std::make_shared<const upstream_list>();
}

void server_set::stop_accepting() {
  for (auto& [id, p] : ports_)
    workers_.close(p->listeners, false);
}

std::vector<platform::socket_handle> server_set::listening_sockets() const {
  std::vector<platform::socket_handle> out;
  for (const auto& [id, p] : ports_) {
    for (const auto& a : p->listeners.acceptors)
      out.push_back(a.socket->native_handle());
    for (const auto& d : p->listeners.datagram)
      out.push_back(d->native_handle());
  }
  return out;
}

std::optional<std::string> server_set::upgrade_obstacle() const {
  for (const auto& [id, p] : ports_) {
    if (p->plugin) {
      return "the plugin of port " + std::to_string(p->cfg().server_port) +
             " listens on the public port itself, where a new plugin cannot bind while this "
             "one runs (restart instead)";
    }
  }
  return std::nullopt;
}

void server_set::hand_over() {
  for (auto& [id, p] : ports_)
    workers_.hand_over(p->listeners);
}

void server_set::stop_plugins(std::chrono::milliseconds grace) {
  for (auto& [id, p] : ports_) {
    if (p->checker) p->checker->stop();
    if (p->plugin) p->plugin->stop(grace);
    for (auto& [sid, cp] : p->plugins)
      cp.supervisor->stop(grace);
  }
}

std::vector<std::string> server_set::startup_lines() const {
  std::vector<std::string> lines;
  for (const auto& [id, p] : ports_) {
    auto cfg = p->cfg();
    lines.push_back(startup_line(profile_, cfg, join(p->listeners.addresses)));
  }
  return lines;
}

std::string server_set::listening() const {
  std::vector<std::string> all;
  for (const auto& [id, p] : ports_)
    all.insert(all.end(), p->listeners.addresses.begin(), p->listeners.addresses.end());
  return join(all);
}

std::vector<manager::list_entry> server_set::list() const {
  std::vector<manager::list_entry> out;
  for (const auto& [id, p] : ports_) {
    auto ctx = p->slot->load();
    out.push_back({p->listeners.port, ctx->cfg.password, std::string(ctx->cfg.key->cipher().name)});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.port < b.port; });
  return out;
}

}  // namespace ss
