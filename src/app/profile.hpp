#pragma once
// Private to the app layer: what makes each executable itself, in one place (instead of tests
// of which program this is spread through the code).

#include <cstdint>
#include <string>
#include <vector>

#include "shadowsocks/config/config.hpp"
#include "shadowsocks/service/fronts.hpp"

namespace ss {

/// One executable: its name, what it serves on which port, and how it describes itself.
struct program_profile {
  program id;                   ///< Which program.
  const char* name;             ///< "ss-local".
  const char* summary;          ///< What it is, for `--help`.
  const char* front;            ///< What its port speaks, for the start-up line ("SOCKS5, ").
  tcp_handler tcp;              ///< Serves an accepted connection.
  udp_handler udp;              ///< Serves its listening UDP socket; nullptr: it has none.
  bool tcp_always;              ///< Listens on TCP even in udp_only mode (UDP ASSOCIATE).
  bool listens_on_server_keys;  ///< ss-server: listens on `server`:`server_port`.
  bool names_a_server;          ///< Clients: the start-up line names the server it uses.
  bool manages;                 ///< ss-manager: ss-server with libev's manager API.
};

/// The profile of `p`.
const program_profile& profile_of(program p);
/// ss-manager's: ss-server's, serving libev's ss-manager API too.
const program_profile& manager_profile();

/// The hosts the program listens on.
std::vector<std::string> listen_hosts(const program_profile& p, const config& c);
/// The port the program listens on.
std::uint16_t listen_port(const program_profile& p, const config& c);
/// True when the program listens on TCP under `c`.
bool listens_tcp(const program_profile& p, const config& c);
/// True when the program has a listening UDP socket under `c`.
bool listens_udp(const program_profile& p, const config& c);
/// The start-up line: "ss-local 0.1.0 listening on ..., method ..., N worker(s)".
std::string startup_line(const program_profile& p, const config& c, const std::string& listening);

}  // namespace ss
