#pragma once
// Private to the app layer: upgrades without an outage. On SIGUSR2 the running process starts
// the program installed at its path with the same arguments and hands it its listening
// sockets (systemd's LISTEN_FDS protocol); once the new process says it serves, the old one
// stops accepting and drains. The two keep a socket between them for as long as both run,
// over which each passes on the salts its replay filters record, so that neither accepts a
// salt the other has seen. POSIX only: Windows has no SIGUSR2 (nothing here runs there).

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/local/balancer.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// The sockets to the other processes of an upgrade (the one that started us, the ones we
/// start), and the salts passed over them. Lives on the control thread.
class upgrade_links {
 public:
  /// For the replay filters of `state`.
  upgrade_links(net::io_context& control, std::shared_ptr<process_state> state);
  ~upgrade_links();
  upgrade_links(const upgrade_links&) = delete;
  upgrade_links& operator=(const upgrade_links&) = delete;

  /// When an upgrade started this process: its link to the process that started it (whose
  /// salts recorded so far are read now, before anything is accepted). False otherwise.
  bool adopt_predecessor();
  /// We serve: tells the process that started us (nothing when none did).
  void tell_ready();
  /// A link to a process we start, over our end `fd` of their socket pair. `ready` gets the
  /// process id it reports once it serves (from then on our traffic counters' totals are
  /// reported to it every second, and at `final_report`); `closed` is called when it ends
  /// before that.
  void add_successor(int fd, std::function<void(long pid)> ready, std::function<void()> closed);
  /// At exit (the destructor's first step: the workers have stopped): our counters' last
  /// totals to the process that took over, so that it counts every byte we moved once.
  void final_report();
  /// Before a process we start reads its link: the health of our servers (a client's), so
  /// that it does not send connections to one we know is down while it checks them again.
  void send_health(const upstream_list& servers);
  /// The health the process that started us sent, given to the same servers of ours (by
  /// their identity); a log line says for how many.
  void apply_health(const upstream_list& servers);

 private:
  struct link;
  void start_reading(const std::shared_ptr<link>& l);
  void received(const std::shared_ptr<link>& from, const std::vector<std::uint8_t>& message);
  void send(const std::shared_ptr<link>& l, std::vector<std::uint8_t> message);
  static void write_next(const std::shared_ptr<link>& l);
  void recorded(std::uint8_t kind, bytes_view salt);
  std::vector<std::vector<std::uint8_t>> counters_report() const;
  void report();
  void counted(link& from, const std::vector<std::uint8_t>& message);
  void report_every_second();
  void flush();
  void journal_on();
  net::io_context& control_;
  std::shared_ptr<process_state> state_;
  std::vector<std::shared_ptr<link>> links_;
  std::shared_ptr<link> successor_;   // the process that took over, once it serves
  std::shared_ptr<link> starting_;    // the process being started
  std::vector<std::uint8_t> health_;  // the health message the process that started us sent
  net::steady_timer report_timer_;
  std::mutex mutex_;                   // guards pending_ (recorded on the workers' threads)
  std::vector<std::uint8_t> pending_;  // salt records not yet sent
  bool journaling_ = false;
};

/// The old side of an upgrade: on SIGUSR2, starts the new process and waits for it.
class upgrader {
 public:
  struct hooks {
    /// Why no upgrade is possible now, if it is not.
    std::function<std::optional<std::string>()> obstacle;
    /// A client's servers, whose health the new process is told.
    std::function<std::shared_ptr<const upstream_list>()> upstreams;
    /// Before the new process starts: writes the state it reads at start; returns what its
    /// environment needs to find it ("NAME=value" each).
    std::function<std::vector<std::string>()> save_state;
    /// The sockets to hand over.
    std::function<std::vector<platform::socket_handle>()> sockets;
    /// The new process (this id) serves: stop accepting and drain.
    std::function<void(long pid)> handed_over;
  };
  /// Restarts `argv` (the command line we were started with) from the program at our path.
  /// `pid_file` ("" for none) is rewritten at the end of each attempt: with the new process's
  /// id after a hand-over, with ours after a failure (`--upgrade` waits for that).
  upgrader(net::io_context& control, upgrade_links& links, std::vector<std::string> argv,
           std::string pid_file, hooks h);
  /// Waits for SIGUSR2.
  void start();
  /// No more upgrades (the process stops).
  void stop();

 private:
  void wait();
  void begin();
  void failed(const std::string& why);
  void rewrite_pid_file(long pid);
  net::io_context& control_;
  upgrade_links& links_;
  std::vector<std::string> argv_;
  std::string pid_file_;
  hooks hooks_;
  net::signal_set signal_;
  net::steady_timer deadline_;
  platform::exit_watch watch_;
  long child_ = -1;
  bool running_ = false;  // an attempt is under way
  bool done_ = false;     // handed over, or stopping
};

/// `--upgrade`: asks the instance whose process id is in `pid_file` to upgrade (SIGUSR2) and
/// waits for the outcome; the exit code (0 upgraded, 1 failed, 2 no such instance).
int request_upgrade(const char* name, const std::string& pid_file);

}  // namespace ss
