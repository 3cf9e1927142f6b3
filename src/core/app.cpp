#include "shadowsocks/app.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli.hpp"
#include "net.hpp"
#include "qr.hpp"
#include "services.hpp"
#include "shadowsocks/sip002.hpp"

namespace ss {

namespace {

// How long open connections may take to finish after SIGINT/SIGTERM.
constexpr auto shutdown_grace = 5s;
// How often the replay filter's state file is rewritten (only when something changed).
constexpr auto replay_save_interval = 60s;

using connection_handler = awaitable<void> (*)(tcp::socket, tcp::endpoint,
                                               std::shared_ptr<service_context>);

awaitable<void> accept_loop(tcp::acceptor& acceptor, const context_slot& slot,
                            connection_handler handler) {
  for (;;) {
    // The peer's address comes with accept(): no getpeername() per connection.
    tcp::endpoint peer;
    auto [ec, socket] = co_await acceptor.async_accept(peer, use_nothrow);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of file descriptors and the like: say so, breathe, go on serving.
      spdlog::warn("accept failed: {}", ec.message());
      co_await sleep_for(100ms);
      continue;
    }
    // The configuration in force now (a reload replaces it for new connections only).
    auto ctx = slot.load();
    if (static_cast<std::size_t>(ctx->active.load()) >= ctx->cfg.max_connections) {
      // Over the cap: this one is closed at once; established connections are not touched.
      std::uint64_t suppressed = 0;
      if (ctx->invalid_requests.allow(suppressed)) {
        spdlog::warn("connection limit ({}) reached: closing a new connection from {}",
                     ctx->cfg.max_connections, to_string(peer));
      }
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    net::co_spawn(acceptor.get_executor(), handler(std::move(socket), peer, std::move(ctx)),
                  log_exception);
  }
}

struct worker {
  net::io_context ioc{1};
  std::vector<tcp::acceptor> acceptors;
  std::vector<std::shared_ptr<udp::socket>> udp_sockets;
  std::thread thread;
};

// Every address a listen host stands for ("localhost" may be two).
std::vector<tcp::endpoint> listen_endpoints(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto literal = net::ip::make_address(host, ec);
  if (!ec) return {tcp::endpoint(literal, port)};
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  std::vector<tcp::endpoint> out;
  for (const auto& r : results)
    out.push_back(r.endpoint());
  return out;
}

// One acceptor per worker on `ep`, all sharing the port through SO_REUSEPORT (the kernel
// spreads connections across them); returns the port actually bound.
std::uint16_t open_listeners(std::vector<std::unique_ptr<worker>>& workers, tcp::endpoint ep,
                             const config& c) {
  bool share = workers.size() > 1 || c.reuse_port;
  if (share && !c.reuse_port && ep.port() != 0) {
    // SO_REUSEPORT would let us join another process (of the same user) already listening on
    // this port and silently split its traffic. Unless the user asked for that (reuse_port),
    // an exclusive bind first makes "port in use" an error, as it is without workers.
    tcp::acceptor probe(workers.front()->ioc);
    probe.open(ep.protocol());
    probe.set_option(tcp::acceptor::reuse_address(true));  // TIME_WAIT is no conflict
    if (ep.address().is_v6()) probe.set_option(net::ip::v6_only(true));
    probe.bind(ep);
  }
  for (auto& w : workers) {
    tcp::acceptor acc(w->ioc);
    acc.open(ep.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    if (share) {
      int one = 1;
      ::setsockopt(acc.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
    // "::" and "0.0.0.0" may both be listed; each family gets its own socket.
    if (ep.address().is_v6()) acc.set_option(net::ip::v6_only(true));
    acc.bind(ep);
    if (c.fast_open) {
      int queue = 256;
      ::setsockopt(acc.native_handle(), IPPROTO_TCP, TCP_FASTOPEN, &queue, sizeof queue);
    }
    acc.listen(net::socket_base::max_listen_connections);
    if (ep.port() == 0) ep.port(acc.local_endpoint().port());
    w->acceptors.push_back(std::move(acc));
  }
  return ep.port();
}

// Binds the TCP listeners (one per worker) and/or the UDP socket on `ep`; returns the endpoint
// with the port actually bound. With port 0 the kernel picks the TCP port, and the UDP socket
// must then get the same number: if that UDP port is taken, another port is tried.
tcp::endpoint bind_endpoint(std::vector<std::unique_ptr<worker>>& workers, tcp::endpoint ep,
                            const config& c, bool tcp, bool udp_listener) {
  const bool any_port = ep.port() == 0;
  for (int attempt = 1;; ++attempt) {
    tcp::endpoint bound = ep;
    if (tcp) bound.port(open_listeners(workers, ep, c));
    if (!udp_listener) return bound;
    // UDP is served by the first worker: its NAT table then needs no lock.
    auto sock = std::make_shared<udp::socket>(workers.front()->ioc);
    udp::endpoint uep(bound.address(), bound.port());
    sock->open(uep.protocol());
    if (uep.address().is_v6()) sock->set_option(net::ip::v6_only(true));
    boost::system::error_code ec;
    sock->bind(uep, ec);
    if (ec == net::error::address_in_use && any_port && tcp && attempt < 16) {
      for (auto& w : workers)
        w->acceptors.pop_back();  // this port's listeners; the next attempt gets a new port
      continue;
    }
    if (ec) throw boost::system::system_error(ec);
    bound.port(sock->local_endpoint().port());
    workers.front()->udp_sockets.push_back(std::move(sock));
    return bound;
  }
}

// Each proxied connection holds two descriptors; keep some for listeners, logs and DNS.
std::size_t default_max_connections() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 65536;
  return lim.rlim_cur > 256 ? static_cast<std::size_t>(lim.rlim_cur - 64) / 2 : 96;
}

// Loads the replay filter's state (if a file is configured) and checks it can be written.
void restore_replay_filter(service_context& ctx) {
  const auto& path = ctx.cfg.replay_state_file;
  if (path.empty()) return;
  auto ec = ctx.replay.load(path);
  if (!ec) {
    spdlog::info("replay filter restored from {}", path);
  } else if (ec == std::errc::no_such_file_or_directory) {
    spdlog::info("replay filter: {} does not exist yet, starting empty", path);
  } else {
    spdlog::warn("replay filter: cannot use {} ({}), starting empty", path, ec.message());
  }
  if (auto wec = ctx.replay.save(path)) {
    spdlog::warn("replay filter: cannot write {} ({}); it will not survive a restart", path,
                 wec.message());
  }
}

void save_replay_filter(service_context& ctx) {
  const auto& path = ctx.cfg.replay_state_file;
  if (path.empty() || !ctx.replay.dirty()) return;
  if (auto ec = ctx.replay.save(path)) {
    spdlog::warn("replay filter: cannot write {}: {}", path, ec.message());
  }
}

// Tells systemd (Type=notify units) about the service's state; nothing without NOTIFY_SOCKET.
void notify_systemd(const char* state) {
  if (int r = ::sd_notify(0, state); r < 0) {
    spdlog::warn("cannot notify systemd: {}", std::strerror(-r));
  }
}

// RELOADING=1 with the monotonic time systemd (>= 253, Type=notify-reload) asks for.
std::string reloading_message() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
              static_cast<std::uint64_t>(ts.tv_nsec) / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

void raise_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

void setup_logging(int verbose) {
  auto logger = spdlog::stderr_color_mt("ss");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  logger->set_level(verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

const char* mode_name(relay_mode m) {
  switch (m) {
    case relay_mode::tcp_only:
      return "tcp_only";
    case relay_mode::tcp_and_udp:
      return "tcp_and_udp";
    case relay_mode::udp_only:
      return "udp_only";
  }
  return "?";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v)
    s += (s.empty() ? "" : ",") + x;
  return s;
}

// The validated configuration of the command line and its config file, or what is wrong.
struct loaded_config {
  std::optional<config> cfg;          ///< Set when valid.
  std::vector<config_error> errors;   ///< Every problem, each naming its key or flag.
  std::vector<std::string> warnings;  ///< Unknown or ignored keys.
};

loaded_config load_config(app_kind kind, const command_line& cl) {
  loaded_config out;
  out.errors = cl.errors;
  raw_config raw;
  if (cl.config_path) {
    std::ifstream in(*cl.config_path);
    if (!in) {
      out.errors.push_back(
          {"-c", "cannot read \"" + *cl.config_path + "\": " + std::strerror(errno)});
    } else {
      std::stringstream text;
      text << in.rdbuf();
      load_json_config(text.str(), raw, out.errors, out.warnings);
    }
  }
  merge_config(raw, cl.flags);
  if (!out.errors.empty()) return out;
  auto v = validate(raw, kind, std::thread::hardware_concurrency());
  if (auto* e = std::get_if<std::vector<config_error>>(&v)) {
    out.errors = std::move(*e);
  } else {
    out.cfg = std::move(std::get<config>(v));
    if (out.cfg->max_connections == 0) out.cfg->max_connections = default_max_connections();
  }
  return out;
}

// Settings a running process cannot change (its sockets are bound, its threads started):
// a reload keeps the running value and says so.
void keep_fixed_settings(const config& running, config& next) {
  auto keep = [](const char* key, auto& next_value, const auto& running_value) {
    if (next_value == running_value) return;
    spdlog::warn("reload: {} changed; the change takes effect at the next restart", key);
    next_value = running_value;
  };
  if (running.kind == app_kind::server) {
    keep("server", next.server_hosts, running.server_hosts);
    keep("server_port", next.server_port, running.server_port);
  } else {
    keep("local_address", next.local_address, running.local_address);
    keep("local_port", next.local_port, running.local_port);
  }
  keep("mode", next.mode, running.mode);
  keep("workers", next.workers, running.workers);
  keep("reuse_port", next.reuse_port, running.reuse_port);
  keep("fast_open", next.fast_open, running.fast_open);
  keep("replay_filter_capacity", next.replay_filter_capacity, running.replay_filter_capacity);
  keep("replay_state_file", next.replay_state_file, running.replay_state_file);
  keep("udp_max_associations", next.udp_max_associations, running.udp_max_associations);
  keep("udp_timeout", next.udp_timeout, running.udp_timeout);
}

// Runs the service until SIGINT/SIGTERM, reloading the configuration on SIGHUP; returns the
// exit code.
int serve(config cfg, const command_line& cl) {
  // Signals are caught from here on, before anything is bound or logged: a SIGTERM (or a
  // SIGHUP) that arrives during start-up waits in its signal set instead of killing the
  // process.
  net::io_context control;
  net::signal_set signals(control, SIGINT, SIGTERM);
  net::signal_set reload_signals(control, SIGHUP);
  auto ctx = std::make_shared<service_context>(cfg);
  restore_replay_filter(*ctx);
  context_slot slot(ctx);
  const char* name = program_name(cfg.kind);
  std::vector<std::unique_ptr<worker>> workers;
  for (unsigned i = 0; i < cfg.workers; ++i)
    workers.push_back(std::make_unique<worker>());

  std::vector<std::string> hosts =
      cfg.kind == app_kind::server ? cfg.server_hosts : std::vector{cfg.local_address};
  std::uint16_t port = cfg.kind == app_kind::server ? cfg.server_port : cfg.local_port;
  // ss-local always needs its TCP listener (UDP ASSOCIATE arrives over TCP) and makes its
  // UDP sockets per association; the others listen on TCP and/or UDP as the mode says.
  bool tcp = cfg.kind == app_kind::local || cfg.tcp_enabled();
  bool udp_listener = cfg.kind != app_kind::local && cfg.udp_enabled();
  std::vector<std::string> listening;
  for (const auto& host : hosts) {
    try {
      for (const auto& ep : listen_endpoints(host, port)) {
        listening.push_back(to_string(bind_endpoint(workers, ep, cfg, tcp, udp_listener)));
      }
    } catch (const boost::system::system_error& e) {
      spdlog::error("cannot listen on {} port {}: {}", host, port, e.code().message());
      return 1;
    }
  }

  std::string method(cfg.key->cipher().name);
  switch (cfg.kind) {
    case app_kind::server:
      spdlog::info("{} {} listening on {} ({}), method {}, {} worker(s)", name, version,
                   join(listening), mode_name(cfg.mode), method, cfg.workers);
      break;
    case app_kind::local:
      spdlog::info("{} {} listening on {} (SOCKS5, {}), server {}:{}, method {}, {} worker(s)",
                   name, version, join(listening), mode_name(cfg.mode), join(cfg.server_hosts),
                   cfg.server_port, method, cfg.workers);
      break;
    case app_kind::tunnel:
      spdlog::info(
          "{} {} listening on {} ({}), forwarding to {} through {}:{}, method {}, {} worker(s)",
          name, version, join(listening), mode_name(cfg.mode), cfg.tunnel_target->to_string(),
          join(cfg.server_hosts), cfg.server_port, method, cfg.workers);
      break;
  }

  connection_handler handler = cfg.kind == app_kind::server  ? serve_shadowsocks
                               : cfg.kind == app_kind::local ? serve_socks5
                                                             : serve_tunnel;
  for (auto& w : workers) {
    for (auto& acc : w->acceptors) {
      net::co_spawn(w->ioc, accept_loop(acc, slot, handler), log_exception);
    }
    for (auto& sock : w->udp_sockets) {
      auto udp_service = cfg.kind == app_kind::server ? run_udp_server : run_udp_tunnel;
      net::co_spawn(w->ioc, udp_service(sock, slot), log_exception);
    }
    w->thread = std::thread([&ioc = w->ioc] { ioc.run(); });
  }

  // Signals: the first stops accepting and lets connections finish for a grace period; a
  // second one exits at once.
  // The replay filter goes to disk every minute (when it changed) and at the end.
  net::steady_timer save_timer(control);
  std::function<void()> periodic_save = [&] {
    save_timer.expires_after(replay_save_interval);
    save_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      save_replay_filter(*ctx);
      periodic_save();
    });
  };
  periodic_save();
  net::steady_timer grace(control);
  int signals_seen = 0;
  std::function<void()> wait_for_drain;
  auto grace_end = steady_clock::now();
  wait_for_drain = [&] {
    if (ctx->active.load() == 0 || steady_clock::now() >= grace_end) {
      control.stop();
      return;
    }
    grace.expires_after(50ms);
    grace.async_wait([&](const boost::system::error_code&) { wait_for_drain(); });
  };
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (++signals_seen > 1) {
          spdlog::warn("second signal: exiting now");
          std::_Exit(0);
        }
        spdlog::info("{} received: stopping ({} open connection(s), up to {} s to finish)",
                     strsignal(sig), ctx->active.load(),
                     std::chrono::duration_cast<std::chrono::seconds>(shutdown_grace).count());
        notify_systemd("STOPPING=1");
        reload_signals.cancel();
        for (auto& w : workers) {
          net::post(w->ioc, [&w] {
            boost::system::error_code ignored;
            for (auto& acc : w->acceptors)
              acc.close(ignored);
            for (auto& sock : w->udp_sockets)
              sock->close(ignored);
          });
        }
        grace_end = steady_clock::now() + shutdown_grace;
        signals.async_wait(on_signal);
        wait_for_drain();
      };
  signals.async_wait(on_signal);

  // SIGHUP (systemctl reload): a valid new configuration applies to new connections; an
  // invalid one is refused and the running one stays.
  std::function<void(const boost::system::error_code&, int)> on_reload =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        notify_systemd(reloading_message().c_str());
        auto running = slot.load();
        auto loaded = load_config(cfg.kind, cl);
        if (!loaded.cfg) {
          for (const auto& e : loaded.errors)
            spdlog::error("reload refused, the running configuration stays: {}", e.to_string());
          notify_systemd("READY=1\nSTATUS=reload refused; the running configuration stays");
        } else {
          for (const auto& w : loaded.warnings)
            spdlog::warn("{}", w);
          keep_fixed_settings(running->cfg, *loaded.cfg);
          spdlog::set_level(loaded.cfg->verbose > 0 ? spdlog::level::debug : spdlog::level::info);
          slot.store(std::make_shared<service_context>(std::move(*loaded.cfg), running->state));
          const auto& now = slot.load()->cfg;
          spdlog::info(
              "configuration reloaded: method {}, timeout {} s; open connections keep "
              "the previous one",
              now.key->cipher().name, now.timeout.count());
          notify_systemd("READY=1\nSTATUS=serving (configuration reloaded)");
        }
        reload_signals.async_wait(on_reload);
      };
  reload_signals.async_wait(on_reload);
  notify_systemd(("READY=1\nSTATUS=serving on " + join(listening)).c_str());
  control.run();

  // Stopping for good: a signal that comes now (a second SIGTERM from a supervisor, say) must
  // not kill the process once its signal sets are gone, mid-exit, with the signal's status
  // instead of 0. Blocked here, it stays pending until the process has exited; the worker
  // threads that might still take it are joined before the sets go.
  sigset_t stop_signals;
  ::sigemptyset(&stop_signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    ::sigaddset(&stop_signals, s);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  for (auto& w : workers)
    w->ioc.stop();
  for (auto& w : workers)
    w->thread.join();
  save_replay_filter(*ctx);
  spdlog::info("{} stopped", name);
  return 0;
}

// ss-server --print-url: the SIP002 URL clients need, and its QR code on a terminal.
int print_url(const config& c, const std::string& public_host) {
  const char* name = program_name(c.kind);
  auto fail = [name](const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", name, what.c_str());
    return 2;
  };
  if (c.password.empty()) {
    return fail("--print-url: needs a password (a base64 key has no ss:// form for this method)");
  }
  std::string host = public_host;
  if (host.empty()) {
    const bool one = c.server_hosts.size() == 1;
    if (!one || c.server_hosts[0] == "0.0.0.0" || c.server_hosts[0] == "::") {
      return fail("--public-host: needed, since the server listens on " + join(c.server_hosts) +
                  ", which is not an address clients can dial");
    }
    host = c.server_hosts[0];
  }
  if (c.server_port == 0) return fail("server_port: 0 (any free port) cannot go into a URL");
  auto url = format_server_url(
      {std::string(c.key->cipher().name), c.password, host, c.server_port, "", ""});
  // What a client will parse: the same rules as --server-url (a host name or an address).
  auto check = parse_server_url(url);
  if (auto* e = std::get_if<url_error>(&check)) {
    return fail((public_host.empty() ? "server" : "--public-host") + std::string(": ") + e->part +
                " " + e->problem);
  }
  std::printf("%s\n", url.c_str());
  if (::isatty(STDOUT_FILENO)) std::fputs(render_qr(url).c_str(), stdout);
  return 0;
}

}  // namespace

int run_app(app_kind kind, int argc, char** argv) {
  const char* name = program_name(kind);
  auto cl = parse_command_line(kind, argc, argv);
  if (!cl.run) return cl.exit_code;

  auto loaded = load_config(kind, cl);
  if (!loaded.cfg) {
    for (const auto& e : loaded.errors)
      std::fprintf(stderr, "%s: %s\n", name, e.to_string().c_str());
    return 2;
  }
  if (cl.print_url) return print_url(*loaded.cfg, cl.public_host);

  // Before any thread starts: broken connections are errors on the socket, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  raise_file_limit();
  setup_logging(loaded.cfg->verbose);
  for (const auto& w : loaded.warnings)
    spdlog::warn("{}", w);
  return serve(*loaded.cfg, cl);
}

}  // namespace ss
