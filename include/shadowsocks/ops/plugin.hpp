#pragma once
/// \file A SIP003 plugin process (shadowsocks-org sip003.md), owned by one
/// supervisor object: started before the daemon reports ready, its output in our log under its
/// name, restarted with back-off when it dies, stopped when we stop, and ended if we die first
/// (platform::end_with_parent).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/config/config.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/platform.hpp"

namespace ss {

/// The four addresses SIP003 hands a plugin: it listens on local and talks to remote (client
/// side), or listens on remote and forwards to local (server side).
struct plugin_addresses {
  std::string remote_host;      ///< SS_REMOTE_HOST.
  std::uint16_t remote_port{};  ///< SS_REMOTE_PORT.
  std::string local_host;       ///< SS_LOCAL_HOST (always 127.0.0.1 here).
  std::uint16_t local_port{};   ///< SS_LOCAL_PORT.
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_loopback_port();

/// One plugin process and its restarts. Lives on the control thread (its io_context); not
/// thread-safe.
class plugin_supervisor {
 public:
  /// For the plugin of `c` at `addresses`; it listens on `listen_port` once it is up.
  plugin_supervisor(net::io_context& control, const server_entry& c, plugin_addresses addresses,
                    std::uint16_t listen_port);
  /// Kills a plugin still running.
  ~plugin_supervisor();
  plugin_supervisor(const plugin_supervisor&) = delete;
  plugin_supervisor& operator=(const plugin_supervisor&) = delete;

  /// Starts the plugin and waits until it listens (up to `limit`); why not, in one line, when
  /// it cannot be started or exits first.
  result<void, problem> start(std::chrono::milliseconds limit);
  /// A reload: restarts the plugin if its program, options or arguments changed.
  void update(const server_entry& c);
  /// Stops the plugin: SIGTERM, then SIGKILL after `grace`; no more restarts.
  void stop(std::chrono::milliseconds grace);
  /// The running plugin's process id, or -1.
  pid_t pid() const noexcept { return pid_; }

 private:
  result<void, problem> spawn();
  void watch();
  void read_output();
  void exited(int status);

  net::io_context& control_;
  std::string program_;  // the resolved path
  std::string name_;     // as configured, for logs
  std::string options_;
  std::vector<std::string> args_;
  plugin_addresses addresses_;
  std::uint16_t listen_port_;
  pid_t pid_ = -1;
  platform::exit_watch exit_watch_;                 // tells when it exits
  std::unique_ptr<platform::child_output> output_;  // its stdout and stderr
  std::string line_;
  net::steady_timer restart_timer_;
  std::chrono::seconds backoff_{1};
  std::chrono::steady_clock::time_point started_{};
  bool stopping_ = false;
};

}  // namespace ss
