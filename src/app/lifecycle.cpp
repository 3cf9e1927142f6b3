#include "lifecycle.hpp"

#include <spdlog/spdlog.h>

#ifdef _WIN32
// clang-format off
#include <winsock2.h>
#include <windows.h>
// clang-format on
#else
#include <sys/resource.h>
#include <unistd.h>
#endif

#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace ss {

namespace {

// What the connection cap counts on: two descriptors per proxied connection, and some kept for
// listeners, logs and DNS.
constexpr std::size_t files_per_connection = 2;
constexpr std::size_t files_reserved = 64;

}  // namespace

#ifndef _WIN32

std::optional<std::string> file_limit_shortfall(std::size_t max_connections) {
  rlimit lim{};
  if (max_connections == 0 || ::getrlimit(RLIMIT_NOFILE, &lim) != 0 ||
      lim.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  std::size_t needed = files_per_connection * max_connections + files_reserved;
  if (lim.rlim_cur >= needed) return std::nullopt;
  return "max_connections: " + std::to_string(max_connections) + " connections need about " +
         std::to_string(needed) + " open files, but the open-file limit is " +
         std::to_string(lim.rlim_cur) + "; raise it (nofile, or LimitNOFILE= under systemd)";
}

void fill_connection_cap(config& c) {
  if (c.max_connections == 0) {  // not given
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) {
      c.max_connections = 65536;
    } else {
      c.max_connections =
          lim.rlim_cur > 256
              ? static_cast<std::size_t>(lim.rlim_cur - files_reserved) / files_per_connection
              : 96;
    }
  }
}

#else  // Windows has no open-file limit: sockets are bounded by memory only

std::optional<std::string> file_limit_shortfall(std::size_t) {
  return std::nullopt;
}

void fill_connection_cap(config& c) {
  if (c.max_connections == 0) c.max_connections = 65536;
}

#endif

namespace {

// Validates `out.raw` into `out.cfg`, or its problems into `out.errors`; what is unwise goes
// to `warnings` when given.
void validate_into(loaded_config& out, program prog, std::vector<std::string>* warnings,
                   bool manager, const raw_config* raw = nullptr) {
  auto v = validate(raw != nullptr ? *raw : out.raw, prog, std::thread::hardware_concurrency(),
                    warnings, manager);
  out.cfg.reset();
  if (!v) {
    out.errors = v.error();
    return;
  }
  out.cfg = std::move(v).value();
}

}  // namespace

std::string reloading_message() {
  // systemd's CLOCK_MONOTONIC, which steady_clock is on Linux.
  auto usec =
      std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now().time_since_epoch())
          .count();
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

loaded_config load_config(program prog, const command_line& cl) {
  loaded_config out;
  out.errors = cl.errors;
  if (cl.config_path) {
    if (auto text = read_text_file(*cl.config_path)) {
      load_json_config(*text, out.raw, out.errors, out.warnings,
                       "config file \"" + *cl.config_path + "\"");
    } else {
      out.errors.push_back(
          {"-c", "cannot read \"" + *cl.config_path + "\": " + text.error().message});
    }
  }
  merge_config(out.raw, cl.flags);
  if (out.errors.empty()) validate_into(out, prog, &out.warnings, cl.manager);
  return out;
}

// --- replay_persistence ---------------------------------------------------------------------

replay_persistence::replay_persistence(net::io_context& control,
                                       std::shared_ptr<process_state> state, std::string path,
                                       steady_clock::duration interval)
    : timer_(control), state_(std::move(state)), path_(std::move(path)), interval_(interval) {}

namespace {

// The temporary file of an upgrade without a state file, in the new process's environment.
constexpr const char* handed_state_variable = "SS_UPGRADE_REPLAY_STATE";

}  // namespace

void replay_persistence::restore() {
  if (path_.empty()) return restore_handed();
  auto ec = state_->replay.load(path_);
  if (!ec) {
    spdlog::info("replay filter restored from {}", path_);
  } else if (ec == std::errc::no_such_file_or_directory) {
    spdlog::info("replay filter: {} does not exist yet, starting empty", path_);
  } else {
    spdlog::warn("replay filter: cannot use {} ({}), starting empty", path_, ec.message());
  }
  if (auto wec = state_->replay.save(path_)) {
    spdlog::warn("replay filter: cannot write {} ({}); it will not survive a restart", path_,
                 wec.message());
  }
  // The 2022 methods' salts of the last 60 s, which a restart would otherwise forget (a
  // request recorded just before it could then be replayed once).
  auto ec2022 = state_->salts_2022.load(salts_2022_path());
  if (!ec2022) {
    spdlog::info("2022 salts of the last minute restored from {}", salts_2022_path());
  } else if (ec2022 != std::errc::no_such_file_or_directory) {
    spdlog::warn("replay filter: cannot use {} ({}), 2022 salts start empty", salts_2022_path(),
                 ec2022.message());
  }
}

std::string replay_persistence::salts_2022_path() const {
  return path_ + ".2022";
}

void replay_persistence::restore_handed() {
  const char* given = std::getenv(handed_state_variable);
  if (given == nullptr || platform::windows_build) return;  // no upgrades on Windows
  const std::string path = given;
#ifndef _WIN32
  ::unsetenv(handed_state_variable);
#endif
  auto ec = state_->replay.load(path);
  auto ec2022 = state_->salts_2022.load(path + ".2022");
  if (ec || (ec2022 && ec2022 != std::errc::no_such_file_or_directory)) {
    spdlog::warn("upgrade: the replay filter handed over is unusable ({}); starting empty",
                 (ec ? ec : ec2022).message());
  } else {
    spdlog::info("upgrade: replay filter handed over by the old process");
  }
  std::remove(path.c_str());
  std::remove((path + ".2022").c_str());
}

std::vector<std::string> replay_persistence::save_for_upgrade() {
  std::string path = path_;
#ifdef _WIN32
  if (path.empty()) return {};  // no upgrades on Windows
#else
  if (path.empty()) {
    auto made = platform::private_temporary_file("shadowsocks-upgrade");
    if (!made) {
      spdlog::warn(
          "upgrade: no temporary file for the replay filter ({}); the new process "
          "starts with the salts recorded from now on only",
          made.error().message);
      return {};
    }
    path = *made;
  }
#endif
  if (auto ec = state_->replay.save(path)) {
    spdlog::warn("upgrade: cannot write {}: {}", path, ec.message());
  }
  if (auto ec = state_->salts_2022.save(path + ".2022")) {
    spdlog::warn("upgrade: cannot write {}.2022: {}", path, ec.message());
  }
  if (path == path_) return {};
  return {std::string(handed_state_variable) + "=" + path};
}

void replay_persistence::hand_over() {
  timer_.cancel();
  path_.clear();
}

void replay_persistence::start() {
  if (!path_.empty()) schedule();
}

void replay_persistence::schedule() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    save_if_changed();
    schedule();
  });
}

void replay_persistence::save_if_changed() {
  if (path_.empty()) return;
  if (state_->replay.dirty()) {
    if (auto ec = state_->replay.save(path_)) {
      spdlog::warn("replay filter: cannot write {}: {}", path_, ec.message());
    }
  }
  // Written whenever there are any (they age; a file left from before is dropped at
  // start once its salts are older than a minute).
  if (state_->salts_2022.size() != 0) {
    if (auto ec = state_->salts_2022.save(salts_2022_path())) {
      spdlog::warn("replay filter: cannot write {}: {}", salts_2022_path(), ec.message());
    }
  }
}

// --- reloader -------------------------------------------------------------------------------

reloader::reloader(const program_profile& profile, const command_line& cl, raw_config running,
                   apply_fn apply)
    : profile_(profile), cl_(cl), running_(std::move(running)), apply_(std::move(apply)) {}

bool reloader::reload() {
  platform::notify_service_manager(reloading_message());
  auto loaded = load_config(profile_.id, cl_);
  if (loaded.cfg) {
    // Keys the running process cannot change: validated again with their running values.
    auto kept = keep_fixed_settings(running_, loaded.raw, profile_.id);
    for (const auto& key : kept)
      spdlog::warn("reload: {} changed; the change takes effect at the next restart", key);
    if (!kept.empty()) validate_into(loaded, profile_.id, nullptr, cl_.manager);  // warned
  }
  if (loaded.cfg && extend_) {
    // ss-manager: with the ports of its API.
    auto extended = loaded.raw;
    extend_(extended);
    validate_into(loaded, profile_.id, nullptr, cl_.manager, &extended);
  }
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors)
      spdlog::error("reload refused, the running configuration stays: {}", e.to_string());
    platform::notify_service_manager(
        "READY=1\nSTATUS=reload refused; the running configuration stays");
    return false;
  }
  for (const auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  fill_connection_cap(*loaded.cfg);
  spdlog::set_level(loaded.cfg->verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  auto what = apply_(*loaded.cfg);
  spdlog::info("configuration reloaded: {}; open connections keep the previous one", what);
  running_ = std::move(loaded.raw);
  platform::notify_service_manager("READY=1\nSTATUS=serving (configuration reloaded)");
  return true;
}

// --- signal_handling ------------------------------------------------------------------------

namespace {

#ifdef _WIN32
// Windows' console: Ctrl-C and Ctrl-Break arrive as the C runtime's SIGINT and SIGBREAK.
// Closing the console window (or logging off, shutting down) is no signal: it becomes SIGTERM
// here, and the process is given the time Windows allows (about 5 s) to drain.
BOOL WINAPI console_closing(DWORD event) {
  if (event != CTRL_CLOSE_EVENT && event != CTRL_LOGOFF_EVENT && event != CTRL_SHUTDOWN_EVENT) {
    return FALSE;  // to the C runtime's handler
  }
  std::raise(SIGTERM);
  // The system ends the process as soon as this returns: the process exits first.
  ::Sleep(INFINITE);
  return TRUE;
}
#endif

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
#ifdef _WIN32
    case SIGBREAK:
      return "SIGBREAK";
#endif
    default:
      return "a signal";
  }
}

}  // namespace

#ifdef _WIN32
signal_handling::signal_handling(net::io_context& control)
    : control_(control),
      stop_(control, SIGINT, SIGTERM, SIGBREAK),
      reload_(control),
      grace_timer_(control) {
  ::SetConsoleCtrlHandler(console_closing, TRUE);
}
#else
signal_handling::signal_handling(net::io_context& control)
    : control_(control),
      stop_(control, SIGINT, SIGTERM),
      reload_(control, SIGHUP),
      grace_timer_(control) {}
#endif

void signal_handling::start(std::function<void()> stop_accepting, connection_count& open,
                            std::function<void()> on_reload, steady_clock::duration grace) {
  stop_accepting_ = std::move(stop_accepting);
  open_ = &open;
  on_reload_ = std::move(on_reload);
  grace_ = grace;
  wait_stop();
  wait_reload();
}

void signal_handling::wait_stop() {
  stop_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (++signals_seen_ > 1) {
      spdlog::warn("second signal: exiting now");
      std::_Exit(0);
    }
    spdlog::info("{} received: stopping ({} open connection(s), up to {} s to finish)",
                 signal_name(sig), open_->value(),
                 std::chrono::duration_cast<std::chrono::seconds>(grace_).count());
    if (!handed_over_) {
      platform::notify_service_manager("STOPPING=1");
      stop_accepting_();
    }
    drain(grace_);
    wait_stop();
  });
}

void signal_handling::drain(steady_clock::duration grace) {
  reload_.cancel();
  // Whichever comes first: the last connection ends, or the grace period does (a signal
  // during an upgrade's drain shortens it).
  grace_timer_.expires_after(grace);
  grace_timer_.async_wait([this](const boost::system::error_code& tec) {
    if (!tec) control_.stop();
  });
  if (!draining_) open_->when_zero(control_.get_executor(), [this] { control_.stop(); });
  draining_ = true;
}

void signal_handling::hand_over(std::function<void()> stop_accepting,
                                steady_clock::duration grace) {
  handed_over_ = true;
  spdlog::info("upgrade: {} open connection(s) here may take up to {} s to finish", open_->value(),
               std::chrono::duration_cast<std::chrono::seconds>(grace).count());
  stop_accepting();
  drain(grace);
}

void signal_handling::wait_reload() {
  reload_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    on_reload_();
    wait_reload();
  });
}

void block_stop_signals() {
#ifndef _WIN32
  sigset_t set;
  ::sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    ::sigaddset(&set, s);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
#endif
}

}  // namespace ss
