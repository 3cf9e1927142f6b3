// Child processes on POSIX systems (platform.hpp): fork and execve, the output through a pipe,
// signals to stop them, waitpid to reap them; and the sockets a parent handed over (systemd's
// socket activation). Windows has platform_windows.cpp instead.
#ifndef _WIN32

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/runtime/platform.hpp"

namespace ss::platform {

namespace {

// In a child between fork and exec: closes every descriptor from `first` on (the sockets of
// the parent's connections must not live on in the child, or closing them would not end
// them). Async-signal-safe.
void close_from(int first) noexcept {
  if (::close_range(static_cast<unsigned>(first), ~0U, 0) == 0) return;
  rlimit lim{};
  rlim_t last = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) last = lim.rlim_cur;
  for (rlim_t fd = static_cast<rlim_t>(first); fd < last; ++fd)
    ::close(static_cast<int>(fd));
}

// `value` in decimal into `out` (room for 11 characters), terminated. Async-signal-safe.
void write_decimal(char* out, long value) noexcept {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < 11);
  for (int i = 0; i < n; ++i)
    out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

}  // namespace

result<started_child, problem> start_child(net::io_context& ctx, const std::string& program,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env) {
  // Everything execve needs is built before fork: the child of a threaded process may only
  // make async-signal-safe calls.
  std::vector<char*> args;
  std::vector<char*> envp;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  args.push_back(nullptr);
  envp.push_back(nullptr);
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return problem{std::string("pipe: ") + std::strerror(errno)};
  const pid_t parent = ::getpid();
  pid_t child = ::fork();
  if (child < 0) {
    problem failed{std::string("fork: ") + std::strerror(errno)};
    ::close(out[0]);
    ::close(out[1]);
    return failed;
  }
  if (child == 0) {
    // If we die, the child does: none outlives us, even after our SIGKILL.
    if (!end_with_parent(parent)) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    close_from(3);
    ::execve(program.c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  return started_child{child, std::make_unique<child_output>(ctx, out[0])};
}

bool ask_child_to_stop(pid_t pid) {
  return ::kill(pid, SIGTERM) == 0;
}

void kill_child(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::optional<int> exit_status(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return status;
  return std::nullopt;
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

const std::string& executable_path() {
  static const std::string path = [] {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }();
  return path;
}

result<std::string, problem> private_temporary_file(const std::string& stem) {
  const char* dir = std::getenv("TMPDIR");
  std::string name =
      std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/" + stem + "-XXXXXX";
  int fd = ::mkstemp(name.data());
  if (fd < 0) return problem{name + ": " + std::strerror(errno)};
  ::close(fd);
  return name;
}

result<pid_t, problem> start_successor(const std::string& program,
                                       const std::vector<std::string>& argv,
                                       std::vector<std::string> env,
                                       const std::vector<socket_handle>& listeners,
                                       const std::vector<std::string>& names,
                                       socket_handle channel) {
  std::vector<int> pass(listeners.begin(), listeners.end());
  pass.push_back(channel);
  const int count = static_cast<int>(pass.size());
  std::string joined;
  for (const auto& n : names)
    joined += (joined.empty() ? "" : ":") + n;
  env.push_back("LISTEN_FDS=" + std::to_string(listeners.size()));
  env.push_back("LISTEN_FDNAMES=" + joined);
  env.push_back("LISTEN_PID=" + std::string(11, '0'));  // the child writes its own id in
  const std::size_t pid_at = env.size() - 1;
  std::vector<char*> args;
  std::vector<char*> envp;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  for (auto& e : env)
    envp.push_back(e.data());
  args.push_back(nullptr);
  envp.push_back(nullptr);
  char* pid_digits = envp[pid_at] + std::strlen("LISTEN_PID=");
  pid_t child = ::fork();
  if (child < 0) return problem{std::string("fork: ") + std::strerror(errno)};
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    write_decimal(pid_digits, static_cast<long>(::getpid()));
    // Copies above the targets first, so that no target overwrites a descriptor still to
    // be moved; the copies are closed with the rest.
    int copies[1024];
    if (count > 1024) ::_exit(127);
    for (int i = 0; i < count; ++i) {
      copies[i] = ::fcntl(pass[static_cast<std::size_t>(i)], F_DUPFD_CLOEXEC, 3 + count);
      if (copies[i] < 0) ::_exit(127);
    }
    for (int i = 0; i < count; ++i) {
      if (::dup2(copies[i], 3 + i) < 0) ::_exit(127);  // without close-on-exec
    }
    close_from(3 + count);
    ::execve(program.c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  return child;
}

std::vector<inherited_socket> take_inherited_sockets() {
  std::vector<inherited_socket> out;
  // Copied before unsetenv, which may invalidate what getenv returned.
  auto variable = [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value != nullptr ? value : "");
  };
  const std::string pid = variable("LISTEN_PID");
  const std::string fds = variable("LISTEN_FDS");
  const std::string names = variable("LISTEN_FDNAMES");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  // For this process only: a LISTEN_PID of another (the variables leaked from a parent) is
  // not ours to take.
  const auto for_pid = parse_integer(pid);
  const auto n = parse_integer(fds);
  if (!for_pid || *for_pid != ::getpid() || !n) return out;
  const auto name_of = split(names, ':');
  constexpr int first = 3;  // SD_LISTEN_FDS_START
  for (std::int64_t i = 0; i < *n && i < 1024; ++i) {
    const int fd = first + static_cast<int>(i);
    std::string name(static_cast<std::size_t>(i) < name_of.size() ? name_of[i] : "");
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    int type = 0;
    socklen_t type_len = sizeof type;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) ||
        (type != SOCK_STREAM && type != SOCK_DGRAM)) {
      spdlog::warn("socket activation: descriptor {} is not a TCP or UDP socket; closed", fd);
      ::close(fd);
      continue;
    }
    udp::endpoint local;
    std::memcpy(local.data(), &addr, addr_len);
    local.resize(addr_len);
    out.push_back({fd, type == SOCK_STREAM, local, std::move(name)});
  }
  return out;
}

}  // namespace ss::platform

#endif  // not _WIN32
