#pragma once
/// \file Configuration of the three daemons: shadowsocks-libev's JSON keys and flags (the
/// table in keys.hpp), read into a `raw_config` (everything optional), merged (flags override
/// the file), then validated into a typed `config` that reports every problem at once, each
/// naming its key or flag.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/config/acl.hpp"
#include "shadowsocks/config/keys.hpp"
#include "shadowsocks/crypto/cipher.hpp"
#include "shadowsocks/crypto/credentials.hpp"
#include "shadowsocks/crypto/identity.hpp"
#include "shadowsocks/crypto/key_ring.hpp"

namespace ss {

/// The `mode` key (libev's `-u` / `-U`).
enum class relay_mode : std::uint8_t { tcp_only, tcp_and_udp, udp_only };

/// One problem: the key or flag ("server_port", "-p") and what is wrong with it.
struct config_error {
  std::string key;       ///< JSON key or flag as the user wrote it.
  std::string problem;   ///< What is wrong, for a one-line message.
  bool missing = false;  ///< A required key that was not given at all.
  /// "key: problem".
  std::string to_string() const { return key + ": " + problem; }
};

/// Reads a JSON object into `out`, as libev and shadowsocks-rust read their files: `//` and
/// `/* */` comments and a trailing comma before `}` or `]` are accepted. Problems (syntax,
/// not an object, a wrong type, a key one or two letters from a known one, a feature that is
/// not implemented) go to `errors`, file-level ones under the name `source`; other unknown
/// keys go to `warnings`.
void load_json_config(std::string_view json_text, raw_config& out,
                      std::vector<config_error>& errors, std::vector<std::string>& warnings,
                      std::string_view source = "config file");

/// The whole of the text file at `path`, or the system's reason why it cannot be read ("No
/// such file or directory"). (Config files, ACL files, users files.)
result<std::string, problem> read_text_file(const std::string& path);

/// `text` with every comma that only precedes a `}` or `]` (with white space or comments
/// between) replaced by a space, so that line and column numbers stay right. Strings are left
/// alone.
std::string blank_trailing_commas(std::string_view text);

/// `text` with each `%NAME%` replaced by the environment variable NAME, as Windows' command
/// prompt expands it (`%APPDATA%\shadowsocks-cpp\local.acl`); a name that is not set, and a
/// `%` without its pair, stay as written. The Windows build applies it to `-c` and to the keys
/// that name files, so that a JSON file (and PowerShell, which leaves `%...%` alone) can say
/// where the user's folders are.
std::string expand_environment(std::string_view text);

/// The known JSON key `key` is at most two edits (insert, delete, replace, swap two neighbours)
/// away from, or empty: "methd" -> "method".
std::string_view resembling_key(std::string_view key);

/// Copies every field that `flags` sets over `file` (flags override the file).
void merge_config(raw_config& file, const raw_config& flags);

/// For a reload of a running `prog`: every key it keeps until a restart (listen addresses,
/// workers, ...) that differs in `next` takes its running value again; returns their names.
std::vector<std::string> keep_fixed_settings(const raw_config& running, raw_config& next,
                                             program prog);

/// ss-local, ss-tunnel, ss-redir with several servers: how they are checked (`balancer`,
/// shadowsocks-rust's key, with our `check_url`).
struct balancer_settings {
  /// What a check asks for through each server: an HTTP GET of this URL.
  std::string check_url = "http://www.gstatic.com/generate_204";
  std::string check_host = "www.gstatic.com";  ///< `check_url`'s host.
  std::uint16_t check_port = 80;               ///< `check_url`'s port.
  std::string check_path = "/generate_204";    ///< `check_url`'s path (and query).
  std::chrono::seconds check_interval{10};     ///< Between two checks of every server.
  /// A check that has no answer by then has failed (shadowsocks-rust's `max_server_rtt`).
  std::chrono::milliseconds max_server_rtt{5000};
  bool operator==(const balancer_settings&) const = default;
};

/// SIP008: the servers come from a URL (`online_config`, shadowsocks-rust's key).
struct online_settings {
  std::string config_url;                      ///< https:// only.
  std::chrono::seconds update_interval{3600};  ///< Between two fetches.
  /// The plugins a document may name (by program name, as in `plugin`); a server of the
  /// document with another plugin is left out, since a document must not run programs.
  std::vector<std::string> allowed_plugins;
  /// Where the last good document is kept ("": the default place, see docs/configuration.md).
  std::string cache_file;
  bool operator==(const online_settings&) const = default;
};

/// One server, as the key table's per-port and per-server keys describe it: for ss-server a
/// port it serves (the top level's own server, a `port_password` or `servers` entry), for
/// ss-local, ss-tunnel and ss-redir a server they balance over (a host of the top level's
/// `server`, a `servers` entry, a SIP008 one). What is not set here is the process's.
struct server_entry {
  std::vector<std::string> server_hosts;  ///< Server address(es).
  std::uint16_t server_port = 0;          ///< Server port.
  std::shared_ptr<const master_key> key;  ///< Method and master key.
  /// ss-server with `users` (SIP023): the users, found by their identity headers; `key` is
  /// then the server's identity key. Null for a single-user server.
  std::shared_ptr<const sip022::user_table> users;
  std::string password;  ///< As given ("" with a base64 key).
  /// ss-server: several 2017 keys on this server's port (`servers` entries sharing it), the
  /// key of each connection found by trying them; `key` is then the first's. Null: `key` only.
  std::shared_ptr<const key_ring> keys;
  /// Its name in logs and metrics: `name` of a `servers` entry (or SIP008's `remarks`), the
  /// port of a `port_password` one, empty for the top-level server.
  std::string name;
  /// A client's server: its share of new connections and of UDP associations, relative to
  /// the other servers' (`weight`, or shadowsocks-rust's `tcp_weight` and `udp_weight`).
  double tcp_weight = 1.0;
  double udp_weight = 1.0;                 ///< See `tcp_weight`.
  std::chrono::seconds timeout{60};        ///< Idle timeout of a relay (a client: the top's).
  relay_mode mode = relay_mode::tcp_only;  ///< TCP and/or UDP.
  /// SIP003: the plugin program (its path, found on PATH), or empty for none.
  std::string plugin;
  std::string plugin_name;               ///< `plugin` as given, for logs and URLs.
  std::string plugin_opts;               ///< SS_PLUGIN_OPTIONS.
  std::vector<std::string> plugin_args;  ///< Extra arguments (shadowsocks-rust's plugin_args).
  bool plugin_udp = false;               ///< `plugin_mode` tcp_and_udp (SIP003u).
  /// A client's server: the bytes its TCP salts start with (Outline's `prefix`); empty: none.
  /// ss-server: only what --print-url writes.
  std::string prefix;

  /// True unless `mode` is udp_only.
  bool tcp_enabled() const noexcept { return mode != relay_mode::udp_only; }
  /// True unless `mode` is tcp_only.
  bool udp_enabled() const noexcept { return mode != relay_mode::tcp_only; }
};

/// A validated configuration: the process's keys, over the top level's own server (the
/// `server_entry` it is). Built only by `validate`.
struct config : server_entry {
  program prog = program::local;  ///< The executable.
  std::string local_address;      ///< Listen address (local, tunnel).
  std::uint16_t local_port = 0;   ///< Listen port (local, tunnel).
  /// ss-server: every server the process runs: the top-level one (when it has a
  /// `server_port`), then those of `port_password` and `servers`, each with the top level's
  /// per-port keys where it sets none (`serving` makes a port's configuration of one).
  /// ss-local, ss-tunnel, ss-redir: the servers to balance over: each host of the top-level
  /// `server` (one entry for them all with a plugin), then the entries of `servers`. Empty
  /// only with `online_config`.
  std::vector<server_entry> servers;
  balancer_settings balancer;             ///< Clients: the health checks of several servers.
  std::optional<online_settings> online;  ///< Clients: SIP008 (`online_config`); none: off.
  /// ss-local: the users of `socks5_auth_config_path`, who alone may use the local port
  /// (SOCKS5 username/password, HTTP Basic); null when anyone may.
  std::shared_ptr<const credential_table> local_users;
  std::string socks5_auth_config_path;  ///< Where `local_users` came from ("": none).
  bool local_http = true;               ///< ss-local: serve HTTP proxy requests too.
  /// ss-server: the ACL (`acl`): clients refused, targets blocked; null without one.
  std::shared_ptr<const acl> access_list;
  std::string acl_path;                            ///< Where `access_list` came from ("": none).
  bool local_socks4 = true;                        ///< ss-local: serve SOCKS4 and SOCKS4a too.
  bool fast_open = false;                          ///< TCP Fast Open.
  bool tcp_tproxy = false;                         ///< ss-redir: TCP comes by TPROXY, not REDIRECT.
  bool no_delay = false;                           ///< TCP_NODELAY on every socket.
  bool reuse_port = false;                         ///< SO_REUSEPORT on listeners.
  bool ipv6_first = false;                         ///< Prefer IPv6 when resolving.
  std::optional<target_address> tunnel_target;     ///< ss-tunnel's `-L` destination.
  unsigned workers = 1;                            ///< Worker threads.
  std::chrono::seconds udp_timeout{300};           ///< UDP association idle expiry.
  std::chrono::seconds upgrade_grace{600};         ///< An upgrade's drain of the old process.
  bool outbound_allow_private = false;             ///< ss-server: allow non-public targets.
  std::size_t replay_filter_capacity = 1'000'000;  ///< Salts per replay-filter generation.
  std::string replay_state_file;                   ///< Where the replay filter persists ("": no).
  std::size_t max_connections = 0;                 ///< Open connections at most (0: from nofile).
  std::size_t udp_max_associations = 4096;         ///< UDP NAT table cap (LRU).
  int verbose = 0;                                 ///< Log verbosity.
  std::string log_file;    ///< `--log-file`: the log appended to this file ("": standard error).
  std::string user;        ///< `-a`: run as this user once the ports are bound ("": stay).
  std::size_t nofile = 0;  ///< `-n`: the open-file limit to set (0: raise to the hard limit).
  std::string pid_file;    ///< `-f`: run in the background, writing the pid here ("": no).
  std::size_t mtu = 0;     ///< `--mtu`: the interface's MTU, for UDP (0: not given).
  std::uint32_t outbound_fwmark = 0;  ///< SO_MARK on outgoing sockets (0: none).
  std::string nameserver;  ///< `-d`: ss-server resolves targets through these (c-ares CSV).
  bool mptcp = false;      ///< `--mptcp`: Multipath TCP toward the server / on its listeners.
  /// `--manager-address` as given: ss-server pushes its traffic there every 10 s (libev's
  /// `stat:` datagrams); ss-manager listens there. "": not given.
  std::string manager_address;
  /// `manager_address` as IP (or localhost) and port: UDP; else it is a Unix socket's path.
  std::optional<target_address> manager_udp;
  /// ss-manager: where the ports added and removed through the API are kept ("": nowhere).
  std::string manager_state_file;
  /// ss-manager: the API may listen on an address other than loopback.
  bool manager_allow_remote = false;
  /// ss-server `--metrics`: where /metrics is served (an IP address and port); none: off.
  std::optional<target_address> metrics;
};

/// `top`'s configuration serving `s`: ss-server's of one of its ports, a client's of one of
/// its servers (the process's keys from `top`, the server's from `s`; no `servers`).
config serving(const config& top, const server_entry& s);

/// Default method when none is given, as in shadowsocks-libev.
inline constexpr std::string_view default_method = "chacha20-ietf-poly1305";

/// Checks `raw` for `prog` and fills in defaults; `hardware_threads` is the default for
/// `workers`. Returns every problem found. What is allowed but unwise (a short password) goes
/// to `warnings` when given.
/// `allow_no_server`: ss-manager, which may start with no server and get them through its
/// API.
result<config, std::vector<config_error>> validate(const raw_config& raw, program prog,
                                                   unsigned hardware_threads,
                                                   std::vector<std::string>* warnings = nullptr,
                                                   bool allow_no_server = false);

/// The servers of a SIP008 document (shadowsocks-org sip008.md), for a client whose other
/// settings are `top`'s.
struct online_servers {
  std::vector<server_entry> servers;  ///< The servers we can use, in the document's order.
  std::vector<std::string> left_out;  ///< Why each other one was left out, a line each.
};
/// Reads a SIP008 document. A server we cannot use (an unknown method, a plugin that
/// `top.online->allowed_plugins` does not name or that is not installed) is left out with
/// its reason; a document that is not SIP008 (not JSON, no `version` 1, no `servers` list) or
/// leaves no server is refused: the reason comes back instead.
result<online_servers, problem> read_sip008(std::string_view text, const config& top);

/// ss-manager: the servers added through its API (port -> a `servers` entry, JSON text) take
/// the place of the configuration's servers on those ports; the `removed` ports are served
/// no more (the top-level server, `port_password` and `servers` entries alike).
void override_servers(raw_config& raw, const std::map<std::uint16_t, std::string>& added,
                      const std::set<std::uint16_t>& removed);

}  // namespace ss
