#pragma once
/// \file What only some operating systems have, one small interface per concern: telling the
/// service manager how the daemon is doing, whether a TCP port is being listened on, watching
/// a child process (a plugin), and the transparent sockets of ss-redir. The code above calls
/// these, never the mechanisms (`$NOTIFY_SOCKET`, `/proc/net/tcp`, `pidfd_open`,
/// `PR_SET_PDEATHSIG`, `SO_ORIGINAL_DST`, `IP_TRANSPARENT`) directly; Linux's implementation
/// is src/runtime/platform_linux.cpp, the portable fallbacks' platform_portable.cpp. The epoll
/// shortcuts of the relay have their own interface (reactor_shortcuts.hpp).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/runtime/asio.hpp"

namespace ss::platform {

/// True in the portable build (-DSS_PORTABLE=ON, src/runtime/platform_portable.cpp): the
/// fallbacks that any POSIX system has, none of Linux's mechanisms.
#ifdef SS_PORTABLE
inline constexpr bool portable_build = true;
#else
inline constexpr bool portable_build = false;
#endif

// --- The service manager -------------------------------------------------------------------

/// Tells the service manager `state` (sd_notify(3)'s lines: "READY=1", "STATUS=...",
/// "RELOADING=1", "STOPPING=1"); nothing when the process was not started by one that asked.
/// A failure is logged, never fatal.
void notify_service_manager(const std::string& state);

// --- Listening ports -----------------------------------------------------------------------

/// True when something on this machine listens on TCP `port` (any address).
bool tcp_port_listening(std::uint16_t port);

// --- Child processes -----------------------------------------------------------------------

/// Called in a child right after `fork()`, before `exec`: makes the child end when `parent`
/// does, even when the parent is killed with SIGKILL. False when `parent` is gone already (the
/// child should exit). Async-signal-safe.
bool end_with_parent(pid_t parent) noexcept;

/// Tells, on `ctx`'s thread, when a child process exits. Not thread-safe; cancelled when
/// destroyed.
class exit_watch {
 public:
  explicit exit_watch(net::io_context& ctx);
  ~exit_watch();
  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

  /// Watches `pid` (our child): once it exits it is reaped and `exited` gets its wait status.
  /// Why it cannot be watched, otherwise.
  result<void, problem> start(pid_t pid, std::function<void(int status)> exited);
  /// Stops watching (`exited` is not called).
  void cancel();

  struct state;  ///< The implementation's (a pidfd on Linux, a timer where it polls).

 private:
  net::io_context& ctx_;
  std::shared_ptr<state> st_;
};

// --- Transparent sockets (ss-redir) ---------------------------------------------------------

/// False in the portable build, which has none: ss-redir cannot work there.
inline constexpr bool has_transparent_sockets = !portable_build;

/// Where connection `s` from `peer` was going before the firewall redirected it here
/// (REDIRECT: the connection tracker's original destination); none when it was not
/// redirected or the system cannot tell.
std::optional<tcp::endpoint> redirected_destination(tcp::socket& s, const tcp::endpoint& peer);

/// Lets socket `fd` (of family v6 or v4) take, or send from, addresses that are not the
/// host's (TPROXY); with `udp`, each datagram received then carries its original destination
/// (`receive_with_destination`). Why not, otherwise (TPROXY needs CAP_NET_ADMIN).
std::error_code make_transparent(int fd, bool v6, bool udp);

/// One datagram from non-blocking `fd` into `into`, without waiting: its size, with its sender
/// in `from` and where it was going in `to` (none when the socket does not say); or -1 with
/// `errno` (EAGAIN when there is none).
ssize_t receive_with_destination(int fd, mutable_bytes into, udp::endpoint& from,
                                 std::optional<udp::endpoint>& to);

}  // namespace ss::platform
