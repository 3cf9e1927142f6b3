// The life of a daemon, from the command line to the exit code, composed of the pieces in
// cli, lifecycle, listeners and print_url.

#include "shadowsocks/app/run.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>

#include "cli.hpp"
#include "lifecycle.hpp"
#include "listeners.hpp"
#include "plugin.hpp"
#include "print_url.hpp"
#include "process.hpp"
#include "shadowsocks/codec/text.hpp"

namespace ss {

namespace {

// How long open connections may take to finish after SIGINT/SIGTERM.
constexpr auto shutdown_grace = 5s;
// How often the replay filter's state file is rewritten (only when something changed).
constexpr auto replay_save_interval = 60s;

void setup_logging(int verbose) {
  auto logger = spdlog::stderr_color_mt("ss");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

// How long a plugin may take to listen at start, and to stop at exit.
constexpr std::chrono::milliseconds plugin_start_limit{10000};
constexpr std::chrono::milliseconds plugin_stop_grace{3000};

// Binds the listeners; behind a SIP003 plugin (ss-server) on a loopback port, which becomes
// the plugin's SS_LOCAL_PORT. A client's plugin listens on a loopback port picked here, which
// its connections to the server then go to. The plugin is started by `start_plugin`.
std::variant<std::vector<std::string>, bind_failure> bind_listeners(
    const program_profile& profile, service_context& ctx, worker_pool& workers,
    std::optional<plugin_addresses>& plugin) {
  const auto& c = ctx.cfg;
  if (c.plugin.empty()) return workers.bind(profile, c);
  if (profile.listens_on_server_keys) {
    std::uint16_t local = 0;
    auto bound = workers.bind_behind_plugin(profile, c, local);
    plugin = plugin_addresses{c.server_hosts.front(), c.server_port, "127.0.0.1", local};
    return bound;
  }
  // Our own port first, so that the plugin's (free now) cannot be the one the kernel gives us.
  auto bound = workers.bind(profile, c);
  auto port = free_loopback_port();
  plugin = plugin_addresses{c.server_hosts.front(), c.server_port, "127.0.0.1", port};
  ctx.state->plugin = tcp::endpoint(net::ip::address_v4::loopback(), port);
  return bound;
}

// Starts the plugin (if any) and waits until it listens: the public port on a server, the
// local one on a client. Null and the error printed when it cannot.
std::optional<std::unique_ptr<plugin_supervisor>> start_plugin(
    net::io_context& control, const program_profile& profile, const config& c,
    const std::optional<plugin_addresses>& addresses) {
  if (!addresses) return std::unique_ptr<plugin_supervisor>();
  auto port = profile.listens_on_server_keys ? addresses->remote_port : addresses->local_port;
  auto plugin = std::make_unique<plugin_supervisor>(control, c, *addresses, port);
  if (auto problem = plugin->start(plugin_start_limit)) {
    spdlog::error("{}", *problem);
    return std::nullopt;
  }
  return plugin;
}

// Serves until SIGINT/SIGTERM (reloading on SIGHUP); returns the exit code. `ready` is told
// once the ports are bound (and privileges dropped) and the workers run.
int serve(const program_profile& profile, const command_line& cl, loaded_config loaded,
          background& ready) {
  net::io_context control;
  signal_handling signals(control);  // first: signals during start-up wait in their sets
  auto ctx = std::make_shared<service_context>(*loaded.cfg);
  replay_persistence replay(control, ctx->state, ctx->cfg.replay_state_file, replay_save_interval);
  replay.restore();
  context_slot slot(ctx);

  worker_pool workers(ctx->cfg.workers);
  std::optional<plugin_addresses> plugin_at;
  auto bound = bind_listeners(profile, *ctx, workers, plugin_at);
  if (auto* failed = std::get_if<bind_failure>(&bound)) {
    spdlog::error("cannot listen on {} port {}: {}", failed->host, failed->port,
                  failed->error.message());
    return 1;
  }
  auto listening = join(std::get<std::vector<std::string>>(bound));
  // libev's -a: the ports are bound; nothing below needs root.
  if (!ctx->cfg.user.empty()) {
    if (auto problem = drop_privileges(ctx->cfg.user)) {
      spdlog::error("{}", *problem);
      return 1;
    }
  }
  auto plugin = start_plugin(control, profile, ctx->cfg, plugin_at);
  if (!plugin) return 2;
  spdlog::info("{}", startup_line(profile, ctx->cfg, listening));
  workers.start(profile, slot);

  reloader reloads(profile, cl, slot, std::move(loaded.raw));
  replay.start();
  auto on_reload = [&reloads, &slot, &plugin] {
    if (reloads.reload() && *plugin) (*plugin)->update(slot.load()->cfg);
  };
  signals.start([&workers] { workers.stop_accepting(); }, ctx->state->active, on_reload,
                shutdown_grace);
  notify_systemd("READY=1\nSTATUS=serving on " + listening);
  ready.ready(profile.name);
  control.run();

  block_stop_signals();
  if (*plugin) (*plugin)->stop(plugin_stop_grace);
  workers.stop_and_join();
  replay.save_if_changed();
  spdlog::info("{} stopped", profile.name);
  return 0;
}

}  // namespace

int run_program(program prog, int argc, char** argv) {
  const auto& profile = profile_of(prog);
  auto cl = parse_command_line(profile, argc, argv);
  if (!cl.run) return cl.exit_code;
  if (cl.keygen) return print_new_key(profile, cl.flags);

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

  // libev's -f: from here on in the background (the command returns once the daemon serves).
  background daemon;
  if (!loaded.cfg->pid_file.empty()) {
    if (auto problem = background::start(loaded.cfg->pid_file, daemon)) {
      std::fprintf(stderr, "%s: -f: %s\n", profile.name, problem->c_str());
      return 1;
    }
  }
  // Before any thread starts: broken connections are errors on the socket, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  setup_logging(loaded.cfg->verbose);
  if (auto problem = set_file_limit(loaded.cfg->nofile)) spdlog::warn("nofile: {}", *problem);
  fill_connection_cap(*loaded.cfg);
  for (const auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  return serve(profile, cl, std::move(loaded), daemon);
}

}  // namespace ss
