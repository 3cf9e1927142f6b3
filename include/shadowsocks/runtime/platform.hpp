#pragma once
/// \file What only some operating systems have, one small interface per concern: telling the
/// service manager how the daemon is doing, whether a TCP port is being listened on, and
/// watching a child process (a plugin). The code above calls these, never the mechanisms
/// (`$NOTIFY_SOCKET`, `/proc/net/tcp`, `pidfd_open`, `PR_SET_PDEATHSIG`) directly; Linux's
/// implementation is src/runtime/platform_linux.cpp. The epoll shortcuts of the relay have
/// their own interface (reactor_shortcuts.hpp).

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/runtime/asio.hpp"

namespace ss::platform {

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

 private:
  net::io_context& ctx_;
  std::unique_ptr<net::posix::stream_descriptor> fd_;  // the pidfd
};

}  // namespace ss::platform
