#pragma once
/// \file The UDP protocol of shadowsocks-libev's ss-manager(1), which web panels speak: one
/// command per datagram (`add: {...}`, `remove: {...}`, `list`, `ping`, and the `stat: {...}`
/// an ss-server pushes), and the replies in libev's exact format.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ss::manager {

/// What a datagram asks.
enum class verb : std::uint8_t { add, remove, list, ping, stat };

/// The server of an `add` or `remove`, as given (`remove` needs only the port).
struct server_spec {
  std::uint16_t port = 0;  ///< `server_port`, a number or a numeric string.
  std::string password;    ///< `password`.
  /// The other keys of the command that a port may set (the key table's `per_port` scope:
  /// `method`, `plugin`, `plugin_opts`, `mode`, `timeout`, ...), each with its value as JSON
  /// text, by name; the manager's own apply to the rest. Keys the table gives
  /// the process alone (libev panels send `fast_open`) are left out, as libev ignores them.
  std::vector<std::pair<std::string, std::string>> keys;
  bool operator==(const server_spec&) const = default;
};

/// One parsed datagram.
struct command {
  verb what = verb::ping;  ///< The command.
  server_spec server;      ///< `add`, `remove`.
  /// `stat`: the traffic (bytes) an ss-server reports, by port.
  std::vector<std::pair<std::uint16_t, std::uint64_t>> traffic;
};

/// What parsing a datagram gave: a command, or nothing to do. `reply_err` tells an `add` or
/// `remove` that libev answers with "err" (no JSON object, bad JSON, no port or password, a
/// port outside 1..65535); other malformed datagrams and unknown commands get no answer.
struct parsed {
  std::optional<command> cmd;  ///< The command, when it is one.
  bool reply_err = false;      ///< Answer "err".
  std::string action;          ///< The command's word as given ("add"), for the log.
  std::string problem;         ///< For the log when it is not a command.
};

/// Parses one datagram (at most 64 KiB; libev drops anything over 32 KiB, and so do we).
parsed parse(std::string_view datagram);

/// One line of `list`.
struct list_entry {
  std::uint16_t port = 0;  ///< The server's port.
  std::string password;    ///< Its password (or base64 key).
  std::string method;      ///< Its method.
};
/// The reply to `list`, byte for byte as libev writes it: `[` then `\n\t{"server_port":"8001",
/// "password":"...","method":"..."}` per server separated by commas, then `\n]` (`[\n]` for
/// none, as Debian's libev 3.3.5 answers).
std::string format_list(const std::vector<list_entry>& servers);
/// The reply to `ping`: `stat: {"8001":1234,"8002":0}` (`stat: {}` for none).
std::string format_stat(const std::vector<std::pair<std::uint16_t, std::uint64_t>>& traffic);
/// What an ss-server pushes to its manager (`--manager-address`): `stat: {"8388":1234}`.
std::string format_push(std::uint16_t port, std::uint64_t traffic);
/// The JSON string `s` with quotes, backslashes and control characters escaped.
std::string json_string(std::string_view s);

}  // namespace ss::manager
