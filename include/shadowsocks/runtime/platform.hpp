#pragma once
/// \file What only some operating systems have, one small interface per concern: telling the
/// service manager how the daemon is doing, whether a TCP port is being listened on, child
/// processes (a plugin), and the transparent sockets of ss-redir. The code above calls these,
/// never the mechanisms (`$NOTIFY_SOCKET`, `/proc/net/tcp`, `fork`, `pidfd_open`,
/// `PR_SET_PDEATHSIG`, `CreateProcess`, job objects, `SO_ORIGINAL_DST`, `IP_TRANSPARENT`)
/// directly. Linux's implementation is src/runtime/platform_linux.cpp, the portable fallbacks'
/// platform_portable.cpp, Windows' platform_windows.cpp; starting a child is POSIX's own in
/// child_posix.cpp. The epoll shortcuts of the relay have their own interface
/// (reactor_shortcuts.hpp).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

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

/// True in the Windows build (cmake/mingw-w64.cmake).
#ifdef _WIN32
inline constexpr bool windows_build = true;
#else
inline constexpr bool windows_build = false;
#endif

/// A socket as the system knows it: a descriptor; on Windows a SOCKET (a UINT_PTR), to which
/// Asio's native handles convert.
#ifdef _WIN32
using socket_handle = std::uintptr_t;
#else
using socket_handle = int;
#endif

// --- Sockets handed to the process ---------------------------------------------------------

/// A listening socket the process was given at start instead of binding it: systemd's socket
/// activation (sd_listen_fds(3): `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, descriptors
/// from 3 on).
struct inherited_socket {
  socket_handle fd;     ///< Ours from now on.
  bool stream = true;   ///< A TCP socket (listening); else UDP.
  udp::endpoint local;  ///< Its address and port.
  std::string name;     ///< Its `LISTEN_FDNAMES` entry, or "".
};

/// The IP sockets given at start, taken once: the variables are removed so that a child (a
/// plugin) does not see them, and the descriptors are closed on exec. Sockets of other kinds
/// (Unix, netlink) are closed with a warning. Empty when none were given, and on Windows.
std::vector<inherited_socket> take_inherited_sockets();

// --- The service manager -------------------------------------------------------------------

/// Tells the service manager `state` (sd_notify(3)'s lines: "READY=1", "STATUS=...",
/// "RELOADING=1", "STOPPING=1"); nothing when the process was not started by one that asked.
/// A failure is logged, never fatal. On Windows, in a service (`run_as_service`), READY and
/// STOPPING are the service's RUNNING and STOP_PENDING states.
void notify_service_manager(const std::string& state);

#ifdef _WIN32
/// Windows' service control manager started us: runs `body` as service `name` (its status
/// reported: START_PENDING, RUNNING at "READY=1", STOP_PENDING at "STOPPING=1", STOPPED with
/// its exit code after it returns); a stop or a shutdown from the manager raises SIGTERM,
/// which drains as on Linux. Returns `body`'s exit code, or why the manager cannot be reached
/// (the program was not started as a service).
result<int, problem> run_as_service(const std::string& name, std::function<int()> body);

/// Registers service `name` (shown as `display`), started at boot as this executable with
/// `args`, and starts it; why not, otherwise (it takes an administrator).
result<void, problem> install_service(const std::string& name, const std::string& display,
                                      const std::vector<std::string>& args);

/// Stops service `name` (waiting up to `wait` for it to drain) and removes it.
result<void, problem> uninstall_service(const std::string& name, std::chrono::seconds wait);
#endif

// --- Listening ports -----------------------------------------------------------------------

/// True when something on this machine listens on TCP `port` (any address).
bool tcp_port_listening(std::uint16_t port);

// --- Child processes -----------------------------------------------------------------------

/// The reading end of the pipe a child writes its standard output and error to.
#ifdef _WIN32
using child_output = net::windows::stream_handle;
#else
using child_output = net::posix::stream_descriptor;
#endif

/// A child process just started: its process id, and its output on `ctx`.
struct started_child {
  pid_t pid = -1;
  std::unique_ptr<child_output> output;
};

/// Starts `program` (a path) with `argv` (its name first) and exactly the environment `env`
/// ("NAME=value" each), its standard output and error into one pipe. The child ends when we
/// do, even when we are killed: PR_SET_PDEATHSIG on Linux, a job object on Windows (which
/// kills its processes when the last handle to it, ours, closes); the portable build has
/// nothing for it. Why it cannot be started, otherwise.
result<started_child, problem> start_child(net::io_context& ctx, const std::string& program,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env);

/// Asks child `pid` to stop: SIGTERM; on Windows, CTRL_BREAK to its console process group.
/// False when it cannot be asked (on Windows, when we have no console to share with it).
bool ask_child_to_stop(pid_t pid);

/// Ends child `pid` at once and reaps it: SIGKILL; TerminateProcess on Windows.
void kill_child(pid_t pid);

/// The wait status of child `pid` once it has exited (it is reaped then); none while it runs.
std::optional<int> exit_status(pid_t pid);

/// What a wait status says: "exited with status N", "was killed by signal N".
std::string describe_exit(int status);

#ifndef _WIN32
/// The path this executable was started from (`/proc/self/exe` read at the first call, which
/// the caller makes at start: a package upgrade later replaces the file at that path), or ""
/// where the system does not say.
const std::string& executable_path();

/// A new empty file only we can read (0600), under an unpredictable name starting with `stem`
/// in `$TMPDIR` (else /tmp): for state handed to the new process of an upgrade. Its path, or
/// why not.
result<std::string, problem> private_temporary_file(const std::string& stem);

/// Starts the program at `program` (a path) with `argv` and the environment `env` as a process
/// of its own: it is not ended with us, shares our standard streams and signal dispositions
/// (its signal mask emptied), and gets the sockets `listeners` as descriptors 3, 4, ... with
/// systemd's `LISTEN_FDS`, `LISTEN_PID` (its own id) and `LISTEN_FDNAMES` (`names`), then
/// `channel` right after them (descriptor 3 + `listeners.size()`); no other descriptor of
/// ours. Its process id, or why it cannot be started.
result<pid_t, problem> start_successor(const std::string& program,
                                       const std::vector<std::string>& argv,
                                       std::vector<std::string> env,
                                       const std::vector<socket_handle>& listeners,
                                       const std::vector<std::string>& names,
                                       socket_handle channel);
#endif

#ifndef _WIN32
/// Called in a child right after `fork()`, before `exec`: makes the child end when `parent`
/// does, even when the parent is killed with SIGKILL. False when `parent` is gone already (the
/// child should exit). Async-signal-safe.
bool end_with_parent(pid_t parent) noexcept;
#endif

/// Tells, on `ctx`'s thread, when a child process exits. Not thread-safe; cancelled when
/// destroyed.
class exit_watch {
 public:
  explicit exit_watch(net::io_context& ctx) : ctx_(ctx) {}
  ~exit_watch() = default;
  exit_watch(const exit_watch&) = delete;
  exit_watch& operator=(const exit_watch&) = delete;

  /// Watches `pid` (our child): once it exits it is reaped and `exited` gets its wait status.
  /// Why it cannot be watched, otherwise.
  result<void, problem> start(pid_t pid, std::function<void(int status)> exited);
  /// Stops watching (`exited` is not called).
  void cancel() { st_.reset(); }

  struct state;  ///< The implementation's (a pidfd on Linux, a timer where it polls).

 private:
  net::io_context& ctx_;
  std::shared_ptr<state> st_;
};

#ifdef _WIN32
// --- Trusted certificates ------------------------------------------------------------------

/// The DER encodings of the certificates in Windows' "ROOT" store: the trusted root
/// authorities (SIP008 over HTTPS verifies against them). Empty when it cannot be read.
std::vector<std::vector<std::uint8_t>> trusted_root_certificates();
#endif

// --- Transparent sockets (ss-redir) ---------------------------------------------------------

/// False in the portable and Windows builds, which have none: ss-redir cannot work there.
inline constexpr bool has_transparent_sockets = !portable_build && !windows_build;

/// Where connection `s` from `peer` was going before the firewall redirected it here
/// (REDIRECT: the connection tracker's original destination); none when it was not
/// redirected or the system cannot tell.
std::optional<tcp::endpoint> redirected_destination(tcp::socket& s, const tcp::endpoint& peer);

/// Lets socket `fd` (of family v6 or v4) take, or send from, addresses that are not the
/// host's (TPROXY); with `udp`, each datagram received then carries its original destination
/// (`receive_with_destination`). Why not, otherwise (TPROXY needs CAP_NET_ADMIN).
std::error_code make_transparent(socket_handle fd, bool v6, bool udp);

/// One datagram from non-blocking `fd` into `into`, without waiting: its size, with its sender
/// in `from` and where it was going in `to` (none when the socket does not say); or -1 with
/// `errno` (EAGAIN when there is none).
ssize_t receive_with_destination(socket_handle fd, mutable_bytes into, udp::endpoint& from,
                                 std::optional<udp::endpoint>& to);

}  // namespace ss::platform
