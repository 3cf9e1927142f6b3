#pragma once
// Private to the app layer: the worker threads and the sockets they listen on.

#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "profile.hpp"
#include "shadowsocks/runtime/asio.hpp"

namespace ss {

/// One worker: a single-threaded event loop with its own listeners (SO_REUSEPORT spreads new
/// connections across the workers' acceptors). The first worker also serves the UDP socket,
/// so a UDP association table needs no lock.
struct worker {
  net::io_context ioc{1};                                 ///< The worker's event loop.
  std::vector<tcp::acceptor> acceptors;                   ///< One per listen address.
  std::vector<std::shared_ptr<udp::socket>> udp_sockets;  ///< First worker only.
  std::thread thread;                                     ///< Runs `ioc`.
};

/// Why a listen address could not be bound.
struct bind_failure {
  std::string host;                 ///< As configured.
  std::uint16_t port = 0;           ///< As configured.
  boost::system::error_code error;  ///< What the system said.
};

/// The workers of a process: bound before they start, stopped and joined at the end.
class worker_pool {
 public:
  /// `n` workers, nothing bound yet.
  explicit worker_pool(unsigned n);
  /// Binds every listen address of `profile` under `c`: TCP (one acceptor per worker) and/or
  /// UDP (on the first worker). Returns the addresses bound ("127.0.0.1:8388", with the port
  /// the kernel chose for port 0), or the first that could not be bound.
  std::variant<std::vector<std::string>, bind_failure> bind(const program_profile& profile,
                                                            const config& c);
  /// ss-server behind a SIP003 plugin: TCP (and, with plugin_mode tcp_and_udp, UDP) on
  /// 127.0.0.1 at a port the kernel picks, where the plugin forwards to; UDP of a tcp_only
  /// plugin on the public addresses as without a plugin. `local_port` gets the local port.
  std::variant<std::vector<std::string>, bind_failure> bind_behind_plugin(
      const program_profile& profile, const config& c, std::uint16_t& local_port);
  /// Starts the threads, serving accepted connections and datagrams with `profile`'s handlers
  /// under the context in `slot`.
  void start(const program_profile& profile, const context_slot& slot);
  /// Closes every listener (on its worker's thread); open connections go on.
  void stop_accepting();
  /// Stops the event loops and joins the threads.
  void stop_and_join();

 private:
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace ss
