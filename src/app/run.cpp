// The life of a daemon, from the command line to the exit code, composed of the pieces in
// cli, lifecycle, listeners and print_url.

#include "shadowsocks/app/run.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "cli.hpp"
#include "handover.hpp"
#include "lifecycle.hpp"
#include "listeners.hpp"
#include "print_url.hpp"
#include "process.hpp"
#include "servers.hpp"
#include "service.hpp"
#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/crypto/library.hpp"
#include "shadowsocks/ops/manager.hpp"
#include "shadowsocks/ops/metrics.hpp"
#include "shadowsocks/ops/online.hpp"

namespace ss {

namespace {

// How long open connections may take to finish after SIGINT/SIGTERM.
constexpr auto shutdown_grace = 5s;
// How often the replay filter's state file is rewritten (only when something changed).
constexpr auto replay_save_interval = 60s;

// The log: standard error (colored on a terminal), or appended to `log_file`.
void setup_logging(int verbose, const std::string& log_file) {
  auto logger =
      log_file.empty() ? spdlog::stderr_color_mt("ss") : spdlog::basic_logger_mt("ss", log_file);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

// How often ss-server pushes its traffic to a manager (libev's UPDATE_INTERVAL).
constexpr auto stat_push_interval = 10s;
// How long plugins may take to stop at exit.
constexpr std::chrono::milliseconds plugin_stop_grace{3000};

// The Prometheus endpoint, when `metrics` is set (null inside when it is not): with a
// client's servers (`servers`) on a client; none, the reason logged, when it cannot listen.
std::optional<std::unique_ptr<metrics_server>> start_metrics(net::io_context& control,
                                                             const config& c,
                                                             std::shared_ptr<process_state> state,
                                                             const server_set& servers) {
  if (!c.metrics) return std::unique_ptr<metrics_server>();
  tcp::endpoint at(net::ip::make_address(c.metrics->host_string()), c.metrics->port());
  metrics_server::render_fn more;
  if (c.prog != program::server) {
    more = [&servers] { return render_server_metrics(*servers.upstreams()); };
  }
  try {
    auto given = take_inherited_socket(true, udp::endpoint(at.address(), at.port()));
    auto server =
        std::make_unique<metrics_server>(control, at, std::move(state), std::move(more),
                                         given ? std::optional<int>(*given) : std::nullopt);
    auto bound = server->local_endpoint();
    spdlog::info("metrics at http://{}/metrics", to_string(bound));
    if (!bound.address().is_loopback()) {
      spdlog::warn(
          "metrics: {} is not a loopback address: anyone who can reach it sees every user's "
          "traffic (firewall it, or use 127.0.0.1)",
          bound.address().to_string());
    }
    return server;
  } catch (const boost::system::system_error& e) {
    spdlog::error("metrics: cannot listen on {}: {}", to_string(at), e.code().message());
    return std::nullopt;
  }
}

// SIP008: the servers of a URL, from the copy kept on disk until the first fetch; null
// without `online_config`.
std::unique_ptr<online_config> start_online(net::io_context& control, const config& c,
                                            server_set& servers) {
  if (!c.online) return nullptr;
  return std::make_unique<online_config>(control, c, [&servers](std::vector<server_entry> list) {
    servers.set_online_servers(std::move(list));
  });
}

// ss-manager's configuration: `raw` with the API's ports over its own, validated (no server
// at all is allowed) and its connection cap filled in; else the first problem.
result<config, problem> with_api_ports(raw_config raw,
                                       const std::map<std::uint16_t, std::string>& added,
                                       const std::set<std::uint16_t>& removed) {
  override_servers(raw, added, removed);
  auto v = validate(raw, program::server, std::thread::hardware_concurrency(), nullptr, true);
  if (!v) return problem{v.error().front().to_string()};
  auto& c = *v;
  fill_connection_cap(c);
  return std::move(c);
}

// ss-manager: its API, with the ports added before a restart (its state file) put into
// `loaded`; its `apply` validates the running configuration with the API's ports and puts it
// in place. Null, the reason logged, when the API cannot listen.
std::unique_ptr<manager_api> start_manager(net::io_context& control, loaded_config& loaded,
                                           std::shared_ptr<process_state> state, reloader& reloads,
                                           server_set& servers) {
  auto apply = [&reloads, &servers](
                   const std::map<std::uint16_t, std::string>& added,
                   const std::set<std::uint16_t>& removed) -> result<void, problem> {
    auto v = with_api_ports(reloads.running(), added, removed);
    if (!v) return v.error();
    spdlog::info("manager: {}", servers.apply(*v));
    return {};
  };
  auto api = std::make_unique<manager_api>(control, *loaded.cfg, std::move(state), apply,
                                           [&servers] { return servers.list(); });
  api->restore();
  auto v = with_api_ports(loaded.raw, api->added(), api->removed());
  if (v) {
    loaded.cfg = std::move(v).value();
  } else {
    spdlog::warn(
        "manager: the ports of the state file are not valid with this configuration ({});"
        " starting without them",
        v.error().message);
  }
  reloads.set_extend(
      [api = api.get()](raw_config& r) { override_servers(r, api->added(), api->removed()); });
  auto inherited = [](const udp::endpoint& at) -> std::optional<int> {
    auto given = take_inherited_socket(false, at);
    return given ? std::optional<int>(static_cast<int>(*given)) : std::nullopt;
  };
  if (!api->listen(inherited)) return nullptr;
  return api;
}

// The parts of a daemon that a stop or an upgrade ends or hands over.
struct daemon_parts {
  server_set& servers;
  replay_persistence& replay;
  std::unique_ptr<metrics_server>& metrics;
  std::unique_ptr<manager_api>& api;
  std::unique_ptr<online_config>& online;
  std::unique_ptr<stat_pusher>& pusher;

  // SIGINT/SIGTERM: every listener closed (open connections go on).
  void stop_accepting() const {
    servers.stop_accepting();
    if (online) online->stop();
    if (metrics) metrics->stop();
    if (api) api->stop();
  }
};

#ifndef _WIN32

// What an upgrade does with `p` (handover.hpp): the state the new process reads, the sockets
// it takes, and once it serves, this process's drain for `grace`.
upgrader::hooks upgrade_hooks(const daemon_parts& p, signal_handling& signals,
                              steady_clock::duration grace) {
  return {[p] { return p.servers.upgrade_obstacle(); }, [p] { return p.servers.upstreams(); },
          [p] {
            auto env = p.replay.save_for_upgrade();
            if (p.api) {
              for (auto& e : p.api->save_for_upgrade())
                env.push_back(std::move(e));
            }
            return env;
          },
          [p] {
            auto out = p.servers.listening_sockets();
            if (p.metrics) out.push_back(p.metrics->native_handle());
            if (p.api) {
              if (auto fd = p.api->udp_handle()) out.push_back(*fd);
            }
            return out;
          },
          [p, &signals, grace](long) {
            signals.hand_over(
                [p] {
                  p.servers.hand_over();
                  p.replay.hand_over();
                  if (p.online) p.online->stop();
                  if (p.metrics) p.metrics->hand_over();
                  if (p.api) p.api->hand_over();
                  p.pusher.reset();  // the new process reports to the manager
                },
                grace);
          }};
}
#endif

// Serves until SIGINT/SIGTERM (reloading on SIGHUP); returns the exit code. `ready` is told
// once the ports are bound (and privileges dropped) and the workers run.
int serve(const program_profile& profile, const command_line& cl, loaded_config loaded,
          background& ready) {
  net::io_context control;
  signal_handling signals(control);  // first: signals during start-up wait in their sets
  auto state =
      std::make_shared<process_state>(loaded.cfg->replay_filter_capacity, loaded.cfg->workers);
  replay_persistence replay(control, state, loaded.cfg->replay_state_file, replay_save_interval);
  replay.restore();
#ifndef _WIN32
  // Started by an upgrade: the old process's link (the salts it records while it drains).
  upgrade_links links(control, state);
  const bool upgraded = links.adopt_predecessor();
#endif
  worker_pool workers(loaded.cfg->workers);
  server_set servers(control, profile, workers, state);
  auto online = start_online(control, *loaded.cfg, servers);
  reloader reloads(profile, cl, loaded.raw, [&servers, &online](const config& c) {
    if (online) online->set_top(c);
    return servers.apply(c);
  });
  auto api = profile.manages ? start_manager(control, loaded, state, reloads, servers) : nullptr;
  if (profile.manages && !api) return 1;
  if (!servers.bind(*loaded.cfg)) return 1;
  if (online) online->load_cache();
  auto metrics = start_metrics(control, *loaded.cfg, state, servers);
  if (!metrics) return 1;
  close_unused_inherited_sockets();
#ifndef _WIN32
  links.apply_health(*servers.upstreams());
#endif
  // libev's -a: the ports are bound; nothing below needs root.
  if (auto dropped = drop_privileges(loaded.cfg->user); !dropped) {
    spdlog::error("{}", dropped.error().message);
    return 1;
  }
  if (!servers.start_plugins()) return 2;
  for (const auto& line : servers.startup_lines())
    spdlog::info("{}", line);
  workers.start();
  servers.serve();
  if (online) online->start();
  // libev's ss-server --manager-address: each port's traffic to the manager every 10 s.
  auto pusher = !profile.manages && !loaded.cfg->manager_address.empty()
                    ? std::make_unique<stat_pusher>(control, *loaded.cfg, state, stat_push_interval)
                    : nullptr;
  replay.start();
  daemon_parts parts{servers, replay, *metrics, api, online, pusher};
#ifndef _WIN32
  // SIGUSR2: an upgrade to the program now installed at our path.
  upgrader upgrades(control, links, cl.argv, loaded.cfg->pid_file,
                    upgrade_hooks(parts, signals, loaded.cfg->upgrade_grace));
  upgrades.start();
#endif
  signals.start(
      [&] {
#ifndef _WIN32
        upgrades.stop();
#endif
        parts.stop_accepting();
      },
      state->active, [&reloads] { reloads.reload(); }, shutdown_grace);
#ifndef _WIN32
  // Under systemd the service's main process is this one from now on (NotifyAccess=all).
  const std::string main_pid =
      upgraded ? "MAINPID=" + std::to_string(::getpid()) + "\n" : std::string();
  links.tell_ready();
#else
  const std::string main_pid;
#endif
  platform::notify_service_manager(main_pid + "READY=1\nSTATUS=serving on " + servers.listening());
  ready.ready(profile.name, !loaded.cfg->log_file.empty());
  control.run();

  block_stop_signals();
  servers.stop_plugins(plugin_stop_grace);
  workers.stop_and_join();
  replay.save_if_changed();
  spdlog::info("{} stopped", profile.name);
  return 0;
}

int start_serving(const program_profile& profile, const command_line& cl, loaded_config loaded);

// The executable of `profile` with its command line.
int run_with(const program_profile& profile, int argc, char** argv) {
  const program prog = profile.id;
  start_openssl();
  auto cl = parse_command_line(profile, argc, argv);
  if (!cl.run) return cl.exit_code;
  cl.argv.assign(argv, argv + argc);
#ifndef _WIN32
  platform::executable_path();  // read now: an upgrade replaces the file later
#endif
  cl.manager = profile.manages;
  if (cl.keygen) return print_new_key(profile, cl.flags);
#ifdef _WIN32
  if (!cl.service.empty()) {
    if (auto code = service_without_config(profile, cl.service)) return *code;
  }
#endif

  auto loaded = load_config(prog, cl);
  if (!loaded.cfg) {
    bool missing = false;
    for (const auto& e : loaded.errors) {
      std::fprintf(stderr, "%s: %s\n", profile.name, e.to_string().c_str());
      missing = missing || e.missing;
    }
    if (missing && !cl.config_path && cl.given_nothing) {
      // A first run without arguments: say where the settings come from.
      std::fprintf(stderr, "%s: no config file: give one with -c FILE, or the flags (see --help)\n",
                   profile.name);
    }
    return 2;
  }
  if (cl.print_url) return print_url(profile, *loaded.cfg, cl.public_host);
#ifndef _WIN32
  if (cl.upgrade) {
    if (loaded.cfg->pid_file.empty()) {
      std::fprintf(stderr, "%s: --upgrade: give the running instance's pid file with -f\n",
                   profile.name);
      return 2;
    }
    return request_upgrade(profile.name, loaded.cfg->pid_file);
  }
#endif
#ifdef _WIN32
  if (!cl.service.empty()) {
    const config& c = *loaded.cfg;
    return service_with_config(profile, cl.service, c, argc, argv,
                               [&] { return start_serving(profile, cl, std::move(loaded)); });
  }
#endif
  return start_serving(profile, cl, std::move(loaded));
}

// The daemon of a valid configuration: its process set up (background, logging, limits), then
// serving until it is stopped; the exit code.
int start_serving(const program_profile& profile, const command_line& cl, loaded_config loaded) {
  // libev's -f: from here on in the background (the command returns once the daemon serves).
  background daemon;
  if (!loaded.cfg->pid_file.empty()) {
    if (auto started = background::start(loaded.cfg->pid_file, daemon); !started) {
      std::fprintf(stderr, "%s: -f: %s\n", profile.name, started.error().message.c_str());
      return 1;
    }
  }
#ifndef _WIN32
  // Before any thread starts: broken connections are errors on the socket, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
#endif
  setup_logging(loaded.cfg->verbose, loaded.cfg->log_file);
  if (auto raised = set_file_limit(loaded.cfg->nofile); !raised) {
    spdlog::warn("nofile: {}", raised.error().message);
  }
  if (auto problem = file_limit_shortfall(loaded.cfg->max_connections)) {
    spdlog::warn("{}", *problem);
  }
  fill_connection_cap(*loaded.cfg);
  for (const auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  if (profile.id == program::redir && !platform::has_transparent_sockets) {
    spdlog::error("ss-redir: {}", platform::windows_build
                                      ? "not available on Windows: it has no transparent sockets"
                                      : "this build has no transparent sockets (-DSS_PORTABLE=ON)");
    return 1;
  }
  return serve(profile, cl, std::move(loaded), daemon);
}

}  // namespace

int run_program(program prog, int argc, char** argv) {
  return run_with(profile_of(prog), argc, argv);
}

int run_manager(int argc, char** argv) {
  return run_with(manager_profile(), argc, argv);
}

}  // namespace ss
