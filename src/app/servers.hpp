#pragma once
// Private to the app layer: the ports a daemon serves. ss-server serves one per server of its
// configuration (the top-level one, `port_password`, `servers`); ss-local and ss-tunnel their
// one local port. Each has its listeners, its SIP003 plugin and the slot of its configuration,
// and a reload changes only the ports whose settings changed.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "listeners.hpp"
#include "profile.hpp"
#include "shadowsocks/config/manager_protocol.hpp"
#include "shadowsocks/local/balancer.hpp"
#include "shadowsocks/ops/plugin.hpp"

namespace ss {

/// The ports of one daemon. Lives on the control thread; not thread-safe.
class server_set {
 public:
  /// Serving on `workers`, sharing `state` among the ports' contexts.
  server_set(net::io_context& control, const program_profile& profile, worker_pool& workers,
             std::shared_ptr<process_state> state);
  ~server_set();
  server_set(const server_set&) = delete;
  server_set& operator=(const server_set&) = delete;

  /// At start, before the workers run and privileges are dropped: binds every port of `c`.
  /// False, the reason logged, when one cannot be bound.
  bool bind(const config& c);
  /// At start, once privileges are dropped: starts the plugins and waits until they listen.
  /// False, the reason logged, when one does not.
  bool start_plugins();
  /// The workers run: serves every bound port.
  void serve();
  /// A reload: the ports of `c` replace the running ones. A port whose listen settings
  /// (addresses, mode, plugin or not) are unchanged keeps its sockets and gets the new
  /// configuration for new connections; the others are closed (their open connections go on)
  /// and bound again; removed ones are closed, new ones bound. Returns what changed, for the
  /// log line.
  std::string apply(const config& c);
  /// A client's SIP008 document changed: `servers` take the place of the document's servers
  /// before them (new connections only; open ones keep theirs).
  void set_online_servers(std::vector<server_entry> servers);
  /// A client's servers now (those of its one port); none on ss-server.
  std::shared_ptr<const upstream_list> upstreams() const;
  /// SIGTERM: closes every listener (open connections go on).
  void stop_accepting();
  /// Every listening socket (TCP, one per worker, and UDP), to hand over at an upgrade.
  std::vector<platform::socket_handle> listening_sockets() const;
  /// Why this set of ports cannot be upgraded, if it cannot: ss-server's plugins listen on
  /// the public port themselves, where the new process's plugin could not bind.
  std::optional<std::string> upgrade_obstacle() const;
  /// An upgrade took over the listening sockets: stops accepting on them here without
  /// closing them (open connections and UDP associations go on).
  void hand_over();
  /// At exit: stops the plugins, each within `grace`.
  void stop_plugins(std::chrono::milliseconds grace);
  /// The start-up line of each port.
  std::vector<std::string> startup_lines() const;
  /// Every address listened on, for systemd's status.
  std::string listening() const;
  /// Each port served (the port bound) with its password and method (of its first key), in
  /// port order: ss-manager's `list`.
  std::vector<manager::list_entry> list() const;

 private:
  struct port;
  std::unique_ptr<port> open(const config& c, bool serve_now);
  void close(port& p);
  bool start_plugin(port& p, const config& c);
  bool start_client_plugins(port& p);
  std::shared_ptr<service_context> context_for(port& p, const config& c);
  std::shared_ptr<const upstream_list> upstreams_for(port& p, const config& c);
  void forget_removed_users();

  net::io_context& control_;
  const program_profile& profile_;
  worker_pool& workers_;
  std::shared_ptr<process_state> state_;
  std::map<std::string, std::unique_ptr<port>> ports_;  // by identity (see identity_of)
  bool serving_ = false;
};

}  // namespace ss
