#include "shadowsocks/ops/plugin.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "shadowsocks/runtime/platform.hpp"

#ifndef _WIN32
extern char** environ;  // <stdlib.h> declares it on Windows
#endif

namespace ss {

namespace {

// Restarts wait 1, 2, 4, ... seconds, at most this long; a plugin that ran this long before
// dying starts again after a second.
constexpr std::chrono::seconds max_backoff{30};

// The command line and environment of a plugin: ours without SS_* variables, and SIP003's.
struct exec_image {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

exec_image make_image(const std::string& name, const std::vector<std::string>& args,
                      const std::string& options, const plugin_addresses& a) {
  exec_image img;
  img.argv.push_back(name);
  img.argv.insert(img.argv.end(), args.begin(), args.end());
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "SS_", 3) != 0) img.env.emplace_back(*e);
  }
  img.env.push_back("SS_REMOTE_HOST=" + a.remote_host);
  img.env.push_back("SS_REMOTE_PORT=" + std::to_string(a.remote_port));
  img.env.push_back("SS_LOCAL_HOST=" + a.local_host);
  img.env.push_back("SS_LOCAL_PORT=" + std::to_string(a.local_port));
  img.env.push_back("SS_PLUGIN_OPTIONS=" + options);
  return img;
}

}  // namespace

std::uint16_t free_loopback_port() {
  net::io_context ioc;
  tcp::acceptor probe(ioc, tcp::endpoint(net::ip::address_v4::loopback(), 0));
  return probe.local_endpoint().port();
}

plugin_supervisor::plugin_supervisor(net::io_context& control, const server_entry& c,
                                     plugin_addresses addresses, std::uint16_t listen_port)
    : control_(control),
      program_(c.plugin),
      name_(c.plugin_name),
      options_(c.plugin_opts),
      args_(c.plugin_args),
      addresses_(std::move(addresses)),
      listen_port_(listen_port),
      exit_watch_(control),
      restart_timer_(control) {}

plugin_supervisor::~plugin_supervisor() {
  if (pid_ > 0) platform::kill_child(pid_);
}

result<void, problem> plugin_supervisor::spawn() {
  auto img = make_image(name_, args_, options_, addresses_);
  auto started = platform::start_child(control_, program_, img.argv, img.env);
  if (!started) return started.error();
  pid_ = started->pid;
  started_ = std::chrono::steady_clock::now();
  output_ = std::move(started->output);
  read_output();
  return {};
}

result<void, problem> plugin_supervisor::start(std::chrono::milliseconds limit) {
  if (platform::tcp_port_listening(listen_port_)) {
    return problem{"port " + std::to_string(listen_port_) +
                   " is in use: the plugin could not listen"};
  }
  if (auto spawned = spawn(); !spawned) {
    return problem{"plugin " + name_ + ": " + spawned.error().message};
  }
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!platform::tcp_port_listening(listen_port_)) {
    if (auto status = platform::exit_status(pid_)) {
      pid_ = -1;
      control_.poll();  // its last words into the log
      return problem{"plugin " + name_ + " " + platform::describe_exit(*status) +
                     " at start (see its output above)"};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return problem{"plugin " + name_ + " does not listen on port " +
                     std::to_string(listen_port_) + " after " + std::to_string(limit.count()) +
                     " ms"};
    }
    control_.poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  spdlog::info("plugin {} (pid {}) listening on port {}", name_, pid_, listen_port_);
  watch();
  return {};
}

void plugin_supervisor::watch() {
  auto watched = exit_watch_.start(pid_, [this](int status) { exited(status); });
  if (!watched) {
    spdlog::warn("plugin {}: cannot watch it ({}); it will not be restarted if it dies", name_,
                 watched.error().message);
  }
}

void plugin_supervisor::read_output() {
  static thread_local std::array<char, 4096> buf;
  output_->async_read_some(
      net::buffer(buf),
      [this, out = output_.get()](const boost::system::error_code& ec, std::size_t n) {
        if (ec || out != output_.get()) return;
        for (std::size_t i = 0; i < n; ++i) {
          if (buf[i] == '\n') {
            if (!line_.empty()) spdlog::info("[{}] {}", name_, line_);
            line_.clear();
          } else if (line_.size() < 2000) {
            line_ += buf[i];
          }
        }
        read_output();
      });
}

void plugin_supervisor::exited(int status) {
  pid_ = -1;
  exit_watch_.cancel();
  if (stopping_) return;
  // A plugin that ran a while is restarted quickly; one that keeps dying, less and less often.
  if (std::chrono::steady_clock::now() - started_ > max_backoff) backoff_ = std::chrono::seconds(1);
  spdlog::warn("plugin {} {}; restarting it in {} s", name_, platform::describe_exit(status),
               backoff_.count());
  restart_timer_.expires_after(backoff_);
  restart_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (auto spawned = spawn(); !spawned) {
      spdlog::error("plugin {}: {}", name_, spawned.error().message);
      return;
    }
    spdlog::info("plugin {} restarted (pid {})", name_, pid_);
    watch();
  });
  backoff_ = std::min(backoff_ * 2, max_backoff);
}

void plugin_supervisor::update(const server_entry& c) {
  if (c.plugin == program_ && c.plugin_opts == options_ && c.plugin_args == args_) return;
  program_ = c.plugin;
  name_ = c.plugin_name;
  options_ = c.plugin_opts;
  args_ = c.plugin_args;
  spdlog::info("plugin settings changed: restarting {}", name_);
  if (pid_ > 0) {
    // Its exit restarts it, with the new settings, after a second.
    backoff_ = std::chrono::seconds(1);
    if (!platform::ask_child_to_stop(pid_)) platform::kill_child(pid_);
  }
}

void plugin_supervisor::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  restart_timer_.cancel();
  if (pid_ <= 0) return;
  // One that cannot be asked (Windows without a console) is ended at once.
  if (!platform::ask_child_to_stop(pid_)) grace = std::chrono::milliseconds(0);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (!platform::exit_status(pid_)) {
    if (std::chrono::steady_clock::now() > deadline) {
      spdlog::warn("plugin {} did not stop within {} ms: killing it", name_, grace.count());
      platform::kill_child(pid_);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  exit_watch_.cancel();
}

}  // namespace ss
