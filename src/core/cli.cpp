#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>

#include "shadowsocks/app.hpp"

namespace ss {

namespace {

void set_integer(const std::string& text, const std::string& flag,
                 raw_config::field<std::int64_t>& f, std::vector<config_error>& errors) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) {
    errors.push_back({flag, "must be a whole number, not \"" + text + "\""});
    return;
  }
  f.set(n, flag);
}

}  // namespace

const char* program_name(app_kind kind) {
  switch (kind) {
    case app_kind::local:
      return "ss-local";
    case app_kind::server:
      return "ss-server";
    case app_kind::tunnel:
      return "ss-tunnel";
  }
  return "ss";
}

command_line parse_command_line(app_kind kind, int argc, char** argv) {
  command_line out;
  const char* name = program_name(kind);
  CLI::App app{std::string(name) + " " + version + " - Shadowsocks " +
                   (kind == app_kind::server   ? "server"
                    : kind == app_kind::tunnel ? "tunnel (fixed-destination local port)"
                                               : "local SOCKS5 proxy"),
               name};
  app.set_version_flag("--version", std::string(name) + " " + version);
  app.get_formatter()->column_width(28);
  // getopt semantics, as in libev: a repeated flag takes its last value (-s accumulates).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  std::string config_path, server_port, local_port, timeout, workers, udp_timeout, udp_max;
  std::string replay_capacity, replay_state, max_connections;
  std::vector<std::string> servers;
  std::string local_address, password, key, method, tunnel, server_url;
  bool udp = false, udp_only = false, fast_open = false, no_delay = false, reuse_port = false;
  bool ipv6_first = false, allow_private = false;
  int verbose = 0;

  app.add_option("-c", config_path, "JSON config file (libev's keys)");
  app.add_option("-s", servers,
                 kind == app_kind::server ? "Address to listen on (repeatable)"
                                          : "Server host name or IP address")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-p", server_port, "Server port");
  if (kind != app_kind::server) {
    app.add_option("-b", local_address, "Local address to listen on (default 127.0.0.1)");
    app.add_option("-l", local_port, "Local port to listen on (default 1080)");
  }
  app.add_option("-k", password, "Password");
  app.add_option("--key", key, "Key in base64 instead of a password");
  app.add_option(
      "-m", method,
      "Method: " + supported_cipher_names() + " (default " + std::string(default_method) + ")");
  app.add_option("-t", timeout, "Idle timeout in seconds (default 60)");
  app.add_flag("-u", udp, "Relay TCP and UDP");
  app.add_flag("-U", udp_only, "Relay UDP only");
  if (kind == app_kind::tunnel) app.add_option("-L", tunnel, "Destination host:port");
  if (kind != app_kind::server) {
    app.add_option("--server-url", server_url,
                   "The server as a SIP002 ss:// URL, instead of -s, -p, -m and -k");
  } else {
    app.add_flag("--print-url", out.print_url,
                 "Print the ss:// URL (and, on a terminal, its QR code) for clients, then exit");
    app.add_option("--public-host", out.public_host,
                   "Host name or address clients reach this server at (for --print-url)");
  }
  app.add_flag("-6", ipv6_first, "Prefer IPv6 when resolving");
  app.add_flag("-v", verbose, "Verbose (per-connection) logging");
  app.add_flag("--fast-open", fast_open, "Use TCP Fast Open");
  app.add_flag("--no-delay", no_delay, "Set TCP_NODELAY");
  app.add_flag("--reuse-port", reuse_port, "Set SO_REUSEPORT on listeners");
  app.add_option("--workers", workers, "Worker threads (default: number of cores)");
  if (kind == app_kind::server) {
    app.add_flag("--outbound-allow-private", allow_private,
                 "Allow targets on loopback, private, link-local... networks (off by default)");
  }
  app.add_option("--replay-filter-capacity", replay_capacity,
                 "Salts remembered per replay-filter generation (1000000)");
  app.add_option("--replay-state-file", replay_state,
                 "File the replay filter is kept in across restarts");
  app.add_option("--max-connections", max_connections,
                 "Open connections at most (default: from the open-file limit)");
  app.add_option("--udp-timeout", udp_timeout, "UDP association idle timeout in seconds (300)");
  app.add_option("--udp-max-associations", udp_max, "Most UDP associations kept (4096)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      app.exit(e);  // --help or --version
      out.exit_code = 0;
    } else {
      std::fprintf(stderr, "%s: %s (see --help)\n", name, e.what());
      out.exit_code = 2;
    }
    return out;
  }

  auto& f = out.flags;
  if (!config_path.empty()) out.config_path = config_path;
  if (!servers.empty()) f.server.set(servers, "-s");
  if (!server_port.empty()) set_integer(server_port, "-p", f.server_port, out.errors);
  if (!local_address.empty()) f.local_address.set(local_address, "-b");
  if (!local_port.empty()) set_integer(local_port, "-l", f.local_port, out.errors);
  if (app.count("-k") > 0) f.password.set(password, "-k");
  if (app.count("--key") > 0) f.key.set(key, "--key");
  if (!method.empty()) f.method.set(method, "-m");
  if (!timeout.empty()) set_integer(timeout, "-t", f.timeout, out.errors);
  if (udp_only)
    f.mode.set("udp_only", "-U");
  else if (udp)
    f.mode.set("tcp_and_udp", "-u");
  if (!tunnel.empty()) f.tunnel_address.set(tunnel, "-L");
  if (!server_url.empty()) f.server_url.set(server_url, "--server-url");
  if (ipv6_first) f.ipv6_first.set(true, "-6");
  if (allow_private) f.outbound_allow_private.set(true, "--outbound-allow-private");
  if (!replay_capacity.empty()) {
    set_integer(replay_capacity, "--replay-filter-capacity", f.replay_filter_capacity, out.errors);
  }
  if (!replay_state.empty()) f.replay_state_file.set(replay_state, "--replay-state-file");
  if (!max_connections.empty()) {
    set_integer(max_connections, "--max-connections", f.max_connections, out.errors);
  }
  if (fast_open) f.fast_open.set(true, "--fast-open");
  if (no_delay) f.no_delay.set(true, "--no-delay");
  if (reuse_port) f.reuse_port.set(true, "--reuse-port");
  if (!workers.empty()) set_integer(workers, "--workers", f.workers, out.errors);
  if (!udp_timeout.empty()) set_integer(udp_timeout, "--udp-timeout", f.udp_timeout, out.errors);
  if (!udp_max.empty()) {
    set_integer(udp_max, "--udp-max-associations", f.udp_max_associations, out.errors);
  }
  f.verbose = verbose;
  out.run = true;
  return out;
}

}  // namespace ss
