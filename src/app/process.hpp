#pragma once
// Private to the app layer: what libev's -n, -a and -f do to the process itself.

#include <string>

#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// Sets the open-file limit to `nofile` (0: raises the soft limit to the hard one); why not,
/// for a warning, when the system refuses (above the hard limit without root).
result<void, problem> set_file_limit(std::size_t nofile);

/// Becomes `user` (its uid, gid and supplementary groups) for good; a no-op when `user` is
/// empty (no -a) or already that user. Why not when that is not possible (only root can become
/// another user).
result<void, problem> drop_privileges(const std::string& user);

/// `-f PIDFILE`: the process goes on in the background. `start` forks; the parent waits until
/// the child calls `ready` (then exits 0: the command returns once the daemon serves) or exits
/// (then exits with the child's status, whose error the child has already printed), so it
/// never returns. The child starts a new session, writes its process id to the file and
/// returns; at `ready` it tells the parent, detaches from the terminal and logs to syslog.
class background {
 public:
  /// Forks (see above); in the child, why not if the pid file cannot be written.
  static result<void, problem> start(const std::string& pid_file, background& out);
  /// Not in the background (nothing to do at `ready`).
  background() = default;
  ~background();
  background(const background&) = delete;
  background& operator=(const background&) = delete;

  /// The daemon serves: the waiting parent exits 0; stdin, stdout and stderr go to /dev/null
  /// and the log to syslog (as `name`), unless it goes to a file (`log_to_file`).
  void ready(const char* name, bool log_to_file);

 private:
  int to_parent_ = -1;    // the write end of the readiness pipe, in the child
  std::string pid_file_;  // removed again at exit
};

}  // namespace ss
