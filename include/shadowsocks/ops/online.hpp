#pragma once
/// \file SIP008 online configuration (shadowsocks-org sip008.md) for the
/// clients. The server list is fetched over HTTPS (Boost.Beast over OpenSSL, the certificate
/// and the host name verified against the system's trust store) at start and every
/// `update_interval`; each good document replaces the document's servers for new connections,
/// and is kept on disk so that a restart without network still has servers. A failed fetch or a
/// bad document keeps the last good list and says why.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/config/config.hpp"
#include "shadowsocks/runtime/asio.hpp"

namespace ss {

/// An https:// URL taken apart.
struct https_url {
  std::string host;          ///< Without brackets for IPv6.
  std::uint16_t port = 443;  ///< 443 when not given.
  std::string target;        ///< Path and query ("/" at least).
  bool ip_literal = false;   ///< `host` is an IP address, not a name.
};
/// Parses an https:// URL; none when it is not one.
std::optional<https_url> parse_https_url(const std::string& url);
/// `url` without its query, fragment and user information, for logs: a provider's URL often
/// carries a token.
std::string url_for_logs(const std::string& url);
/// Where the last good document of `o` is kept: its `cache_file`; else in $STATE_DIRECTORY
/// (systemd's StateDirectory=), on Windows %LOCALAPPDATA%\shadowsocks-cpp (or %ProgramData%'s),
/// $XDG_CACHE_HOME/shadowsocks-cpp or ~/.cache/shadowsocks-cpp, named after the URL; "" when
/// none of these is known.
std::string online_cache_path(const online_settings& o);

/// The fetches of one client's SIP008 URL. Lives on the control thread; not thread-safe.
class online_config {
 public:
  /// The servers of a good document, to put in place.
  using apply_fn = std::function<void(std::vector<server_entry>)>;
  /// For the client configured by `top` (which has `online`).
  online_config(net::io_context& control, config top, apply_fn apply);
  ~online_config();
  online_config(const online_config&) = delete;
  online_config& operator=(const online_config&) = delete;

  /// At start: the servers of the document kept on disk, if there is one (put in place now).
  void load_cache();
  /// Fetches now, then every update_interval.
  void start();
  /// No more fetches.
  void stop();
  /// A reload: the other settings the document's servers take (timeout, mode, ...).
  void set_top(const config& top);

  struct state;  ///< Shared with the fetches' coroutine.

 private:
  std::shared_ptr<state> st_;
};

}  // namespace ss
