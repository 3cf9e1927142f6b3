// POSIX only; Windows has process_windows.cpp.
#ifndef _WIN32

#include "process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/config/system_user.hpp"

namespace ss {

result<void, problem> set_file_limit(std::size_t nofile) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return problem{std::string(std::strerror(errno))};
  if (nofile == 0) {
    if (lim.rlim_cur >= lim.rlim_max) return {};
    lim.rlim_cur = lim.rlim_max;
  } else {
    // Both limits, as libev sets them; the hard one is only ever raised (lowering it could not
    // be undone), which needs root.
    lim.rlim_cur = nofile;
    lim.rlim_max = std::max<rlim_t>(lim.rlim_max, nofile);
  }
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return problem{"cannot set the open-file limit to " + std::to_string(lim.rlim_cur) + ": " +
                   std::strerror(errno)};
  }
  return {};
}

result<void, problem> drop_privileges(const std::string& user) {
  if (user.empty()) return {};
  auto found = find_system_user(user);
  if (!found) return problem{"no such user \"" + user + "\""};
  if (::getuid() == found->uid && ::geteuid() == found->uid) return {};
  // Groups first, while we still may; then the gid; the uid last.
  if (::setgroups(found->groups.size(), found->groups.data()) != 0 || ::setgid(found->gid) != 0 ||
      ::setuid(found->uid) != 0) {
    return problem{"cannot run as user \"" + user + "\": " + std::strerror(errno)};
  }
  // For good: root must not be reachable again.
  if (found->uid != 0 && ::setuid(0) == 0)
    return problem{"still able to become root after switching"};
  return {};
}

result<void, problem> background::start(const std::string& pid_file, background& out) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return problem{std::string("pipe: ") + std::strerror(errno)};
  std::fflush(nullptr);
  pid_t child = ::fork();
  if (child < 0) return problem{std::string("fork: ") + std::strerror(errno)};
  if (child > 0) {
    // The parent: waits for "ready", or for the child's end.
    ::close(pipe_fds[1]);
    char byte = 0;
    ssize_t n;
    do {
      n = ::read(pipe_fds[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) std::_Exit(0);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
  }
  ::close(pipe_fds[0]);
  out.to_parent_ = pipe_fds[1];
  // Sockets handed to the parent (an upgrade's, systemd's) are this process's to take now.
  if (const char* listen_pid = std::getenv("LISTEN_PID");
      listen_pid != nullptr && parse_integer(listen_pid) == ::getppid()) {
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  }
  ::setsid();  // no controlling terminal: closing it does not stop the daemon
  std::ofstream file(pid_file, std::ios::trunc);
  file << ::getpid() << '\n';
  if (!file.flush()) return problem{"cannot write \"" + pid_file + "\": " + std::strerror(errno)};
  out.pid_file_ = pid_file;
  return {};
}

void background::ready(const char* name, bool log_to_file) {
  if (to_parent_ < 0) return;
  if (!log_to_file) {
    // The log goes to syslog from now on: the terminal is about to go.
    auto level = spdlog::default_logger()->level();
    auto logger = spdlog::syslog_logger_mt("ss-syslog", name, LOG_PID, LOG_DAEMON);
    logger->set_pattern("%v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
  }
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
      ::dup2(null, fd);
    ::close(null);
  }
  char byte = 'R';
  (void)!::write(to_parent_, &byte, 1);
  ::close(to_parent_);
  to_parent_ = -1;
}

background::~background() {
  if (to_parent_ >= 0) ::close(to_parent_);  // never ready: the parent reports our exit
  // Unless an upgrade's new process has put its own id there.
  if (!pid_file_.empty()) {
    std::ifstream in(pid_file_);
    std::string text;
    std::getline(in, text);
    if (parse_integer(text) == ::getpid()) ::unlink(pid_file_.c_str());
  }
}

}  // namespace ss

#endif  // not _WIN32
