// Child processes on POSIX systems (platform.hpp): fork and execve, the output through a pipe,
// signals to stop them, waitpid to reap them. Windows has platform_windows.cpp instead.
#ifndef _WIN32

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace ss::platform

#endif  // not _WIN32
