#pragma once
/// \file The Prometheus endpoint (`metrics`): GET /metrics over
/// HTTP/1.1 (Boost.Beast) on the control thread, the counters summed at each scrape.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// The metrics of `state` in the Prometheus text format (version 0.0.4): per port and user,
/// the TCP and UDP traffic and TCP connections; per port, the requests refused; for the
/// process, open connections, UDP associations, the replay filters' fill, the version and
/// the start time (`started`, seconds since the Unix epoch).
std::string render_metrics(const process_state& state, double started);

/// A client's servers in the same format: up or down, score and last round trip, and the
/// connections, UDP associations, failed connects and checks of each.
std::string render_server_metrics(const upstream_list& servers);

/// The HTTP endpoint: accepts until destroyed or `stop` is called.
class metrics_server {
 public:
  /// More metrics of a program's own, rendered at each scrape after the common ones.
  using render_fn = std::function<std::string()>;
  /// Listens on `at` (the caller logs a failure) and serves scrapes of `state` (and `more`).
  /// With `given`, a socket already listening on `at` (handed over by an upgrade) is used.
  metrics_server(net::io_context& control, const tcp::endpoint& at,
                 std::shared_ptr<process_state> state, render_fn more = {},
                 std::optional<int> given = std::nullopt);
  /// The address it listens on (with the port the kernel chose for port 0).
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  /// Closes the listener; scrapes under way end by themselves.
  void stop();
  /// The listening socket, to hand over at an upgrade.
  int native_handle() { return static_cast<int>(acceptor_.native_handle()); }
  /// The listening socket lives on in the new process of an upgrade: stops using it here
  /// without touching it.
  void hand_over();

 private:
  tcp::acceptor acceptor_;
};

}  // namespace ss
