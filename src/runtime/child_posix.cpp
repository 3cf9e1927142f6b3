// Child processes on POSIX systems (platform.hpp): fork and execve, the output through a pipe,
// signals to stop them, waitpid to reap them; and the sockets a parent handed over (systemd's
// socket activation). Windows has platform_windows.cpp instead.
#ifndef _WIN32

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
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
