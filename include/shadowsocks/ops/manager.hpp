#pragma once
/// \file shadowsocks-libev's ss-manager protocol on our side. ss-server pushes each
/// port's traffic to a manager (`--manager-address`), as libev's ss-server does; ss-manager
/// serves the API itself (add, remove, list, ping) with the ports in its own process.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/config/manager_protocol.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// Each port's traffic so far (bytes, both directions, TCP and UDP), by port.
std::vector<std::pair<std::uint16_t, std::uint64_t>> port_traffic(const traffic_registry& r);

/// A datagram socket to a manager address (UDP, or a Unix datagram socket's path).
class manager_link {
 public:
  /// For `c.manager_address`.
  manager_link(net::io_context& control, const config& c);
  /// Sends `text` (failures are logged once, rate-limited).
  void send(const std::string& text);

 private:
  std::optional<udp::socket> udp_;
  std::optional<udp::endpoint> udp_to_;
  std::optional<net::local::datagram_protocol::socket> unix_;
  std::string path_;
  bool warned_ = false;
};

/// ss-server with `manager_address`: every `interval`, a `stat: {"PORT":BYTES}` datagram per
/// port (with libev's trailing NUL).
class stat_pusher {
 public:
  stat_pusher(net::io_context& control, const config& c, std::shared_ptr<process_state> state,
              steady_clock::duration interval);

 private:
  void schedule();
  net::steady_timer timer_;
  manager_link link_;
  std::shared_ptr<process_state> state_;
  steady_clock::duration interval_;
};

/// ss-manager's API on `manager_address`, libev's protocol: `add` and `remove` change the
/// ports this process serves (through `apply`), `list` and `ping` report them. The ports
/// added and removed are kept in a state file when one is given, and restored at start.
class manager_api {
 public:
  /// Puts the servers of the running configuration, with `added` taking the place of theirs
  /// and `removed` gone, in place; why not when that configuration is refused.
  using apply_fn = std::function<result<void, problem>(
      const std::map<std::uint16_t, std::string>& added, const std::set<std::uint16_t>& removed)>;
  /// The ports served now and their first key (for `list`, `ping`).
  using list_fn = std::function<std::vector<manager::list_entry>()>;

  /// For `c` (its manager_address and manager_state_file); nothing is bound yet.
  manager_api(net::io_context& control, const config& c, std::shared_ptr<process_state> state,
              apply_fn apply, list_fn list);
  /// Reads the state file (ports added and removed before a restart), if there is one.
  void restore();
  /// The ports added through the API, as `servers` entries.
  const std::map<std::uint16_t, std::string>& added() const noexcept { return added_; }
  /// The ports removed through the API.
  const std::set<std::uint16_t>& removed() const noexcept { return removed_; }
  /// A UDP socket already bound to an address, handed over by an upgrade (none if not).
  using inherited_fn = std::function<std::optional<int>(const udp::endpoint&)>;
  /// Binds the API's socket (or takes the one `inherited` gives) and serves it. False, the
  /// reason logged, when it cannot be bound.
  bool listen(const inherited_fn& inherited = {});
  /// Closes the API's socket.
  void stop();
  /// The API's UDP socket, to hand over at an upgrade (none for a Unix socket, which the new
  /// process binds again).
  std::optional<int> udp_handle();
  /// An upgrade: the new process serves the API; stops using the socket here without
  /// touching it (nor the Unix socket's file, which is the new process's now).
  void hand_over();
  /// An upgrade starts a new process: writes the ports added and removed to the state file,
  /// or without one to a private temporary file that the new process reads and removes; what
  /// the new process's environment needs to find it.
  std::vector<std::string> save_for_upgrade() const;
  /// The reply to one datagram ("" for none).
  std::string handle(std::string_view datagram);

 private:
  std::string add(const manager::server_spec& s);
  std::string remove(std::uint16_t port);
  void save() const;
  void save_to(const std::string& path) const;
  template <class Socket, class Endpoint>
  awaitable<void> serve(Socket& socket);

  net::io_context& control_;
  std::string address_;
  std::optional<target_address> udp_at_;
  std::string state_file_;
  bool allow_remote_;
  std::shared_ptr<process_state> state_;
  apply_fn apply_;
  list_fn list_;
  std::map<std::uint16_t, std::string> added_;
  std::set<std::uint16_t> removed_;
  std::optional<udp::socket> udp_;
  std::optional<net::local::datagram_protocol::socket> unix_;
};

}  // namespace ss
