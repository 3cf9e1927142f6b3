#pragma once
// Private to the app layer: the pieces of a daemon's life after start-up, each on the control
// thread's event loop: telling systemd, keeping the replay filter on disk, reloading on SIGHUP,
// and stopping on SIGINT/SIGTERM after a drain.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "profile.hpp"
#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// RELOADING=1 with the monotonic time systemd (>= 253, Type=notify-reload) asks for.
std::string reloading_message();

/// Sets `max_connections` when none was given (0): half the open-file limit as it is now (each
/// proxied connection holds two descriptors), less some for listeners, logs and DNS. Called once
/// the limit is final: after `-n` at start, and on each reload.
void fill_connection_cap(config& c);
/// When `max_connections` was given (not 0) and the open-file limit cannot hold that many
/// connections (two descriptors each): the warning that says so, naming the key.
std::optional<std::string> file_limit_shortfall(std::size_t max_connections);

/// The validated configuration of the command line and its config file, or what is wrong.
struct loaded_config {
  raw_config raw;                     ///< The file with the flags merged over it.
  std::optional<config> cfg;          ///< Set when valid.
  std::vector<config_error> errors;   ///< Every problem, each naming its key or flag.
  std::vector<std::string> warnings;  ///< Unknown or ignored keys.
};
/// Reads the config file named on `cl` (if any), merges the flags over it and validates.
loaded_config load_config(program prog, const command_line& cl);

/// The replay filter's state file: restored at start, rewritten every `interval` when
/// something changed, and at the end. Does nothing without `replay_state_file`.
class replay_persistence {
 public:
  /// For the filter of `state`, saved at `path` ("" for none).
  replay_persistence(net::io_context& control, std::shared_ptr<process_state> state,
                     std::string path, steady_clock::duration interval);
  /// Loads the saved state and checks the file can be written (log lines say how it went);
  /// with it the 2022 salts of the last minute, kept beside it (`path`.2022). Without a file,
  /// in a process an upgrade started: the state the old process handed over.
  void restore();
  /// Starts the periodic save.
  void start();
  /// Saves now if something changed since the last save.
  void save_if_changed();
  /// An upgrade starts a new process: saves everything now, into the state file or, without
  /// one, into a private temporary file that the new process reads and removes; what the new
  /// process's environment needs to find it.
  std::vector<std::string> save_for_upgrade();
  /// The new process took over: it keeps the file from now on (the salts recorded here reach
  /// it over the upgrade's link), so this process no longer writes it.
  void hand_over();

 private:
  void schedule();
  void restore_handed();
  std::string salts_2022_path() const;
  net::steady_timer timer_;
  std::shared_ptr<process_state> state_;
  std::string path_;
  steady_clock::duration interval_;
};

/// SIGHUP: a valid new configuration applies to new connections (open ones keep theirs); an
/// invalid one is refused and the running one stays. Keys a running process cannot change keep
/// their running values, with a warning.
class reloader {
 public:
  /// Puts a new configuration in place (the servers it names); returns what changed, for
  /// the log line.
  using apply_fn = std::function<std::string(const config&)>;
  /// Reloads for `profile` from the file and flags of `cl`; `running` is what the running
  /// configuration was made from.
  reloader(const program_profile& profile, const command_line& cl, raw_config running,
           apply_fn apply);
  /// One reload, now. True when the new configuration took effect.
  bool reload();
  /// ss-manager: what it adds to every configuration read (its API's ports) before it is
  /// validated.
  void set_extend(std::function<void(raw_config&)> extend) { extend_ = std::move(extend); }
  /// What the running configuration was made from (before `extend`).
  const raw_config& running() const noexcept { return running_; }

 private:
  const program_profile& profile_;
  const command_line& cl_;
  raw_config running_;
  apply_fn apply_;
  std::function<void(raw_config&)> extend_;
};

/// SIGINT/SIGTERM: the first stops accepting and lets open connections finish for `grace`,
/// then stops the control loop (at once when the last connection ends: the drain waits on that
/// event); a second signal exits at once. SIGHUP calls `on_reload`.
class signal_handling {
 public:
  /// Catches the signals from now on (before anything is bound or logged: a signal that
  /// arrives during start-up waits in its set instead of killing the process).
  explicit signal_handling(net::io_context& control);
  /// Starts serving the signals: `stop_accepting` closes the listeners, `open` is the count the
  /// drain waits on, `on_reload` handles SIGHUP.
  void start(std::function<void()> stop_accepting, connection_count& open,
             std::function<void()> on_reload, steady_clock::duration grace);
  /// An upgrade handed the listeners over: `stop_accepting` stops using them, and open
  /// connections have `grace` to finish (a SIGTERM meanwhile shortens it to the usual grace).
  /// The service manager is not told of a stop: the service goes on in the new process.
  void hand_over(std::function<void()> stop_accepting, steady_clock::duration grace);

 private:
  void wait_stop();
  void wait_reload();
  void drain(steady_clock::duration grace);
  net::io_context& control_;
  net::signal_set stop_;
  net::signal_set reload_;
  net::steady_timer grace_timer_;
  std::function<void()> stop_accepting_;
  std::function<void()> on_reload_;
  connection_count* open_ = nullptr;
  steady_clock::duration grace_{};
  int signals_seen_ = 0;
  bool handed_over_ = false;
  bool draining_ = false;
};

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread: once the control loop has ended,
/// a late signal (a second SIGTERM from a supervisor) must not kill the process mid-exit with
/// the signal's status instead of 0; blocked, it stays pending until the process has exited.
void block_stop_signals();

}  // namespace ss
