#include "shadowsocks/ops/plugin.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <thread>

#include "shadowsocks/runtime/platform.hpp"

extern char** environ;

namespace ss {

namespace {

// Restarts wait 1, 2, 4, ... seconds, at most this long; a plugin that ran this long before
// dying starts again after a second.
constexpr std::chrono::seconds max_backoff{30};

// argv and envp for execve, built before fork (the child of a threaded process may only make
// async-signal-safe calls).
struct exec_image {
  std::vector<std::string> strings;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

exec_image make_image(const std::string& name, const std::vector<std::string>& args,
                      const std::string& options, const plugin_addresses& a) {
  exec_image img;
  img.strings.push_back(name);
  img.strings.insert(img.strings.end(), args.begin(), args.end());
  std::size_t argc = img.strings.size();
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "SS_", 3) != 0) img.strings.emplace_back(*e);
  }
  img.strings.push_back("SS_REMOTE_HOST=" + a.remote_host);
  img.strings.push_back("SS_REMOTE_PORT=" + std::to_string(a.remote_port));
  img.strings.push_back("SS_LOCAL_HOST=" + a.local_host);
  img.strings.push_back("SS_LOCAL_PORT=" + std::to_string(a.local_port));
  img.strings.push_back("SS_PLUGIN_OPTIONS=" + options);
  for (std::size_t i = 0; i < img.strings.size(); ++i)
    (i < argc ? img.argv : img.envp).push_back(img.strings[i].data());
  img.argv.push_back(nullptr);
  img.envp.push_back(nullptr);
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
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

result<void, problem> plugin_supervisor::spawn() {
  auto img = make_image(name_, args_, options_, addresses_);
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
    // If we die, the plugin does: none outlives us, even after our SIGKILL.
    if (!platform::end_with_parent(parent)) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::execve(program_.c_str(), img.argv.data(), img.envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = child;
  started_ = std::chrono::steady_clock::now();
  output_ = std::make_unique<net::posix::stream_descriptor>(control_, out[0]);
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
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      control_.poll();  // its last words into the log
      return problem{"plugin " + name_ + " " + describe(status) +
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

std::string plugin_supervisor::describe(int status) const {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

void plugin_supervisor::exited(int status) {
  pid_ = -1;
  exit_watch_.cancel();
  if (stopping_) return;
  // A plugin that ran a while is restarted quickly; one that keeps dying, less and less often.
  if (std::chrono::steady_clock::now() - started_ > max_backoff) backoff_ = std::chrono::seconds(1);
  spdlog::warn("plugin {} {}; restarting it in {} s", name_, describe(status), backoff_.count());
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
    ::kill(pid_, SIGTERM);
  }
}

void plugin_supervisor::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  restart_timer_.cancel();
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      spdlog::warn("plugin {} did not stop within {} ms: killing it", name_, grace.count());
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  exit_watch_.cancel();
}

}  // namespace ss
