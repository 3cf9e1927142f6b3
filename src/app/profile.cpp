#include "profile.hpp"

#include "shadowsocks/ops/online.hpp"

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/local/fronts.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/server/fronts.hpp"
#include "version.hpp"

namespace ss {

namespace {

const program_profile profiles[] = {
    {program::local, "ss-local", "local SOCKS5, SOCKS4 and HTTP proxy", "SOCKS5, ", serve_local,
     nullptr, true, false, true, false},
    {program::server, "ss-server", "server", "", serve_shadowsocks, run_udp_server, false, true,
     false, false},
    {program::tunnel, "ss-tunnel", "tunnel (fixed-destination local port)", "", serve_tunnel,
     run_udp_tunnel, false, false, true, false},
    {program::redir, "ss-redir",
     platform::has_transparent_sockets
         ? "transparent proxy (firewall REDIRECT and TPROXY)"
         : "transparent proxy (firewall REDIRECT and TPROXY): not in this build, which has no "
           "transparent sockets (-DSS_PORTABLE=ON)",
     "", serve_redir, run_udp_redir, false, false, true, false},
};

const program_profile manager = {
    program::server,
    "ss-manager",
    "manager: libev's ss-manager API (add, remove, list, ping), serving the ports itself",
    "",
    serve_shadowsocks,
    run_udp_server,
    false,
    true,
    false,
    true};

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

}  // namespace

const program_profile& profile_of(program p) {
  for (const auto& profile : profiles) {
    if (profile.id == p) return profile;
  }
  return profiles[0];
}

const program_profile& manager_profile() {
  return manager;
}

std::vector<std::string> listen_hosts(const program_profile& p, const config& c) {
  return p.listens_on_server_keys ? c.server_hosts : std::vector{c.local_address};
}

std::uint16_t listen_port(const program_profile& p, const config& c) {
  return p.listens_on_server_keys ? c.server_port : c.local_port;
}

bool listens_tcp(const program_profile& p, const config& c) {
  return p.tcp_always || c.tcp_enabled();
}

bool listens_udp(const program_profile& p, const config& c) {
  return p.udp != nullptr && c.udp_enabled();
}

std::string startup_line(const program_profile& p, const config& c, const std::string& listening) {
  std::string front = p.front;
  if (p.id == program::local) {
    // The local port's protocols, as configured.
    if (c.local_socks4 && !c.local_users) front += "SOCKS4, ";
    if (c.local_http && c.tcp_enabled()) front += "HTTP, ";
    if (c.local_users) front += std::to_string(c.local_users->size()) + " proxy user(s), ";
  }
  std::string line = std::string(p.name) + " " + version + " listening on " + listening + " (" +
                     front + mode_name(c.mode) + ")";
  if (!c.name.empty()) line += ", server " + c.name;
  if (c.tunnel_target) line += ", forwarding to " + c.tunnel_target->to_string();
  if (!p.names_a_server) {
    line += ", method ";
    line += c.key->cipher().name;
  } else if ((c.servers.size() == 1 || (c.servers.empty() && c.key)) && !c.online) {
    const server_entry& s = c.servers.empty() ? c : c.servers.front();
    line += (c.tunnel_target ? " through " : ", server ") + join(s.server_hosts) + ":" +
            std::to_string(s.server_port) + ", method ";
    line += s.key->cipher().name;
  } else {
    // Several servers: each is named when it goes down or comes back.
    line +=
        (c.tunnel_target ? " through " : ", ") + std::to_string(c.servers.size()) + " server(s)";
    if (c.online) line += " and those of " + url_for_logs(c.online->config_url);
  }
  if (c.users) line += ", " + std::to_string(c.users->all().size()) + " user(s)";
  if (c.keys) line += ", " + std::to_string(c.keys->size()) + " keys";
  return line + ", " + std::to_string(c.workers) + " worker(s)";
}

}  // namespace ss
