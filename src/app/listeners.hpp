#pragma once
// Private to the app layer: the worker threads and the sockets they listen on.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "profile.hpp"
#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/runtime/asio.hpp"

namespace ss {

/// One worker: a single-threaded event loop serving its own acceptors (SO_REUSEPORT spreads
/// new connections across the workers' acceptors of a port). The first worker also serves
/// the UDP sockets, so a UDP association table needs no lock. Every operation on a worker's
/// sockets runs on its thread (other threads post to it), so Asio's per-socket locks are off
/// (UNSAFE_IO: the scheduler and the reactor's registrations still lock, for those posts and
/// for sockets opened on the main thread).
struct worker {
  net::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};  ///< The worker's event loop.
  /// Keeps `ioc` running while it has no listener (every server removed, for a while).
  net::executor_work_guard<net::io_context::executor_type> busy{ioc.get_executor()};
  std::thread thread;  ///< Runs `ioc`.
};

/// Why a listen address could not be bound.
struct bind_failure {
  std::string host;                 ///< As configured.
  std::uint16_t port = 0;           ///< As configured.
  boost::system::error_code error;  ///< What the system said.
  std::string why;                  ///< What it means, when that needs saying.
};

/// The sockets of one port: a TCP acceptor per worker and address, UDP sockets on the first
/// worker, and the addresses bound, for the log.
struct listener_set {
  /// One acceptor and the worker whose thread serves it.
  struct acceptor_of {
    worker* on;                             ///< Its worker.
    std::shared_ptr<tcp::acceptor> socket;  ///< Shared with its accept loop.
  };
  std::vector<acceptor_of> acceptors;                  ///< TCP acceptors.
  std::vector<std::shared_ptr<udp::socket>> datagram;  ///< UDP sockets (first worker).
  std::vector<std::string> addresses;                  ///< "127.0.0.1:8388" (the port bound).
  std::uint16_t port = 0;                              ///< The port bound (of the first address).
};

/// A socket of `ep` handed to the process at start (an upgrade's or systemd's), taken for
/// the metrics or the manager API; none when there is none.
std::optional<platform::socket_handle> take_inherited_socket(bool stream, const udp::endpoint& ep);

/// Closes the sockets handed to the process at start (socket activation) that no listen
/// address took, each with a warning. Call once the configuration's addresses are bound.
void close_unused_inherited_sockets();

/// The workers of a process, and the ports bound on them (at start or later, on reload).
class worker_pool {
 public:
  /// `n` workers, not running yet.
  explicit worker_pool(unsigned n);
  /// Binds every listen address of `profile` under `c`: TCP (one acceptor per worker) and/or
  /// UDP (on the first worker); with port 0 the kernel picks, the same port for both. The
  /// sockets, or the first address that could not be bound.
  result<listener_set, bind_failure> bind(const program_profile& profile, const config& c);
  /// ss-server behind a SIP003 plugin: TCP (and, with plugin_mode tcp_and_udp, UDP) on
  /// 127.0.0.1 at a port the kernel picks, where the plugin forwards to (`port` of the
  /// result); UDP of a tcp_only plugin on the public addresses as without a plugin.
  result<listener_set, bind_failure> bind_behind_plugin(const program_profile& profile,
                                                        const config& c);
  /// Starts the threads.
  void start();
  /// Serves `l`'s sockets with `profile`'s handlers, each connection or datagram under the
  /// context in `slot` at the time (the sockets keep `slot` alive).
  void serve(const listener_set& l, const program_profile& profile,
             std::shared_ptr<const context_slot> slot);
  /// Closes `l`'s sockets on their workers' threads (open connections go on); with `wait`,
  /// returns once they are closed (the port is free again). The threads must run.
  void close(const listener_set& l, bool wait);
  /// An upgrade's hand-over: `l`'s sockets live on in the new process; here the listeners stop
  /// accepting (taken out of the event loops and closed without touching the socket) and the
  /// UDP sockets stop receiving, but stay open for the answers of their associations.
  void hand_over(const listener_set& l);
  /// Stops the event loops and joins the threads.
  void stop_and_join();

 private:
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace ss
