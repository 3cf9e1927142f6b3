#include "shadowsocks/config.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "shadowsocks/sip002.hpp"

namespace ss {

namespace {

using json = nlohmann::json;

// Keys libev or rust users may have in their files that we do not act on (yet): a warning,
// not an error, so that a copied config still starts.
constexpr std::string_view known_but_ignored[] = {
    "user", "plugin", "plugin_opts",        "plugin_args",        "nameserver", "acl",
    "mtu",  "mptcp",  "local_ipv4_address", "local_ipv6_address", "nofile",     "remarks"};

std::string type_name(const json& v) {
  return v.type_name();
}

void read_string(const json& v, const char* key, raw_config::field<std::string>& f,
                 std::vector<config_error>& errors) {
  if (!v.is_string()) {
    errors.push_back({key, "must be a string, not " + type_name(v)});
    return;
  }
  f.set(v.get<std::string>(), key);
}

void read_bool(const json& v, const char* key, raw_config::field<bool>& f,
               std::vector<config_error>& errors) {
  if (!v.is_boolean()) {
    errors.push_back({key, "must be true or false, not " + type_name(v)});
    return;
  }
  f.set(v.get<bool>(), key);
}

// libev accepts numbers and numeric strings for ports and timeouts alike.
void read_integer(const json& v, const char* key, raw_config::field<std::int64_t>& f,
                  std::vector<config_error>& errors) {
  if (v.is_number_integer()) {
    f.set(v.get<std::int64_t>(), key);
    return;
  }
  if (v.is_string()) {
    auto s = v.get<std::string>();
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec == std::errc{} && end == s.data() + s.size() && !s.empty()) {
      f.set(n, key);
      return;
    }
    errors.push_back({key, "must be a whole number, not \"" + s + "\""});
    return;
  }
  errors.push_back({key, "must be a whole number, not " + type_name(v)});
}

void read_servers(const json& v, raw_config::field<std::vector<std::string>>& f,
                  std::vector<config_error>& errors) {
  std::vector<std::string> hosts;
  if (v.is_string()) {
    hosts.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (!item.is_string()) {
        errors.push_back({"server", "list entries must be strings, not " + type_name(item)});
        return;
      }
      hosts.push_back(item.get<std::string>());
    }
  } else {
    errors.push_back({"server", "must be a string or a list of strings, not " + type_name(v)});
    return;
  }
  f.set(std::move(hosts), "server");
}

template <class T>
void merge_field(raw_config::field<T>& into, const raw_config::field<T>& from) {
  if (from.value) into = from;
}

// The value of an integer field when it is given and within [lo, hi]. Out of range, an error
// "must be <what>, not <value>" names the key or flag; not given, nothing happens. Either way
// the result is empty unless the value is good.
std::optional<std::int64_t> checked(const raw_config::field<std::int64_t>& f, std::int64_t lo,
                                    std::int64_t hi, const std::string& what,
                                    std::vector<config_error>& errors) {
  if (!f.value) return std::nullopt;
  if (*f.value < lo || *f.value > hi) {
    errors.push_back({f.given_as, "must be " + what + ", not " + std::to_string(*f.value)});
    return std::nullopt;
  }
  return f.value;
}

}  // namespace

void load_json_config(std::string_view json_text, raw_config& out,
                      std::vector<config_error>& errors, std::vector<std::string>& warnings) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    // parse_error for syntax, but also out_of_range for a number too large for a double
    // (found by fuzz_config: {"timeout": 15e66666666}).
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> from "line".
    auto at = what.find("line");
    if (at == std::string::npos)
      at = what.find("] ") == std::string::npos ? 0 : what.find("] ") + 2;
    errors.push_back({"config file", "not valid JSON: " + what.substr(at)});
    return;
  }
  if (!doc.is_object()) {
    errors.push_back({"config file", "must hold a JSON object, not " + type_name(doc)});
    return;
  }
  for (const auto& [key, v] : doc.items()) {
    if (key == "server")
      read_servers(v, out.server, errors);
    else if (key == "server_port")
      read_integer(v, "server_port", out.server_port, errors);
    else if (key == "local_address")
      read_string(v, "local_address", out.local_address, errors);
    else if (key == "local_port")
      read_integer(v, "local_port", out.local_port, errors);
    else if (key == "password")
      read_string(v, "password", out.password, errors);
    else if (key == "key")
      read_string(v, "key", out.key, errors);
    else if (key == "method")
      read_string(v, "method", out.method, errors);
    else if (key == "timeout")
      read_integer(v, "timeout", out.timeout, errors);
    else if (key == "mode")
      read_string(v, "mode", out.mode, errors);
    else if (key == "fast_open")
      read_bool(v, "fast_open", out.fast_open, errors);
    else if (key == "no_delay")
      read_bool(v, "no_delay", out.no_delay, errors);
    else if (key == "reuse_port")
      read_bool(v, "reuse_port", out.reuse_port, errors);
    else if (key == "ipv6_first")
      read_bool(v, "ipv6_first", out.ipv6_first, errors);
    else if (key == "tunnel_address")
      read_string(v, "tunnel_address", out.tunnel_address, errors);
    else if (key == "workers")
      read_integer(v, "workers", out.workers, errors);
    else if (key == "replay_filter_capacity")
      read_integer(v, "replay_filter_capacity", out.replay_filter_capacity, errors);
    else if (key == "replay_state_file")
      read_string(v, "replay_state_file", out.replay_state_file, errors);
    else if (key == "max_connections")
      read_integer(v, "max_connections", out.max_connections, errors);
    else if (key == "outbound_allow_private")
      read_bool(v, "outbound_allow_private", out.outbound_allow_private, errors);
    else if (key == "udp_timeout")
      read_integer(v, "udp_timeout", out.udp_timeout, errors);
    else if (key == "udp_max_associations")
      read_integer(v, "udp_max_associations", out.udp_max_associations, errors);
    else if (key == "server_url")
      read_string(v, "server_url", out.server_url, errors);
    else {
      bool known = false;
      for (auto k : known_but_ignored)
        known = known || k == key;
      warnings.push_back(known ? "config key \"" + key + "\" is not supported yet and is ignored"
                               : "unknown config key \"" + key + "\" is ignored");
    }
  }
}

void merge_config(raw_config& file, const raw_config& flags) {
  merge_field(file.server, flags.server);
  merge_field(file.server_port, flags.server_port);
  merge_field(file.local_address, flags.local_address);
  merge_field(file.local_port, flags.local_port);
  merge_field(file.password, flags.password);
  merge_field(file.key, flags.key);
  merge_field(file.method, flags.method);
  merge_field(file.timeout, flags.timeout);
  merge_field(file.mode, flags.mode);
  merge_field(file.fast_open, flags.fast_open);
  merge_field(file.no_delay, flags.no_delay);
  merge_field(file.reuse_port, flags.reuse_port);
  merge_field(file.ipv6_first, flags.ipv6_first);
  merge_field(file.tunnel_address, flags.tunnel_address);
  merge_field(file.workers, flags.workers);
  merge_field(file.udp_timeout, flags.udp_timeout);
  merge_field(file.outbound_allow_private, flags.outbound_allow_private);
  merge_field(file.replay_filter_capacity, flags.replay_filter_capacity);
  merge_field(file.replay_state_file, flags.replay_state_file);
  merge_field(file.max_connections, flags.max_connections);
  merge_field(file.udp_max_associations, flags.udp_max_associations);
  merge_field(file.server_url, flags.server_url);
  file.verbose += flags.verbose;
}

namespace {

// A SIP002 URL stands for server, server_port, method and password: fills them in `raw`
// (under the URL's key or flag, for messages), or says what is wrong with it. False when the
// URL was given but could not be used: the settings it stands for are then not reported
// missing as well.
bool expand_server_url(raw_config& raw, app_kind kind, std::vector<config_error>& errors) {
  const auto& f = raw.server_url;
  if (!f.value) return true;
  if (kind == app_kind::server) {
    errors.push_back({f.given_as,
                      "is for ss-local and ss-tunnel (ss-server prints its URL "
                      "with --print-url)"});
    return true;
  }
  auto parsed = parse_server_url(*f.value);
  if (auto* e = std::get_if<url_error>(&parsed)) {
    errors.push_back({f.given_as, e->part + " " + e->problem});
    return false;
  }
  auto& u = std::get<server_url>(parsed);
  if (!u.plugin.empty()) {
    errors.push_back({f.given_as, "plugin \"" + u.plugin +
                                      "\" is not supported (SIP003 plugins are not implemented)"});
    return false;
  }
  // Two sources for one setting would leave the user guessing which one is used.
  bool clash = false;
  for (const std::string* other : {raw.server.value ? &raw.server.given_as : nullptr,
                                   raw.server_port.value ? &raw.server_port.given_as : nullptr,
                                   raw.method.value ? &raw.method.given_as : nullptr,
                                   raw.password.value ? &raw.password.given_as : nullptr,
                                   raw.key.value ? &raw.key.given_as : nullptr}) {
    if (other == nullptr) continue;
    errors.push_back({f.given_as, "conflicts with " + *other +
                                      " (the URL already names the server, port, method and "
                                      "password)"});
    clash = true;
  }
  if (clash) return true;
  raw.server.set({u.host}, f.given_as);
  raw.server_port.set(u.port, f.given_as);
  raw.method.set(u.method, f.given_as);
  raw.password.set(u.password, f.given_as);
  return true;
}

}  // namespace

std::variant<config, std::vector<config_error>> validate(const raw_config& given, app_kind kind,
                                                         unsigned hardware_threads) {
  std::vector<config_error> errors;
  raw_config raw = given;
  const bool url_usable = expand_server_url(raw, kind, errors);
  config c;
  c.kind = kind;
  c.verbose = raw.verbose;
  bool is_server = kind == app_kind::server;

  // server / server_port
  if (raw.server.value) {
    c.server_hosts = *raw.server.value;
    if (c.server_hosts.empty()) errors.push_back({raw.server.given_as, "must name an address"});
    for (const auto& h : c.server_hosts) {
      if (h.empty()) errors.push_back({raw.server.given_as, "an address is empty"});
    }
  } else if (is_server) {
    c.server_hosts = {"0.0.0.0"};  // as libev: listen on every IPv4 address
  } else if (url_usable) {
    errors.push_back({"server", "is required (the address of ss-server; -s)"});
  }
  if (raw.server_port.value) {
    // ss-server may listen on port 0 (the kernel picks one, and the log says which).
    if (auto p =
            checked(raw.server_port, is_server ? 0 : 1, 65535,
                    is_server ? "a port number from 0 to 65535" : "a port number from 1 to 65535",
                    errors)) {
      c.server_port = static_cast<std::uint16_t>(*p);
    }
  } else if (url_usable) {
    errors.push_back({"server_port", "is required (-p)"});
  }

  // local_address / local_port (ignored by ss-server, as libev does)
  if (!is_server) {
    c.local_address = raw.local_address.value.value_or("127.0.0.1");
    if (c.local_address.empty()) errors.push_back({raw.local_address.given_as, "is empty"});
    c.local_port = 1080;
    if (auto p = checked(raw.local_port, 0, 65535, "a port number from 0 to 65535", errors)) {
      c.local_port = static_cast<std::uint16_t>(*p);
    }
  }

  // method / password / key
  std::string method = raw.method.value.value_or(std::string(default_method));
  if (!find_cipher(method)) {
    errors.push_back(
        {raw.method.value ? raw.method.given_as : "method", describe_unknown_method(method)});
  } else if (raw.key.value) {
    // As libev: a key given directly takes precedence over a password.
    auto k = master_key::from_base64(method, *raw.key.value);
    if (!k) {
      errors.push_back({raw.key.given_as, "must be base64 of exactly " +
                                              std::to_string((*find_cipher(method))->key_size) +
                                              " bytes for " + method});
    } else {
      c.key = std::make_shared<const master_key>(std::move(*k));
    }
  } else if (raw.password.value) {
    if (raw.password.value->empty()) {
      errors.push_back({raw.password.given_as, "is empty"});
    } else {
      c.key = std::make_shared<const master_key>(
          *master_key::from_password(method, *raw.password.value));
      c.password = *raw.password.value;
    }
  } else if (url_usable) {
    errors.push_back({"password", "is required (-k, or a base64 key with --key)"});
  }

  if (auto t = checked(raw.timeout, 1, 86400, "from 1 to 86400 seconds", errors)) {
    c.timeout = std::chrono::seconds(*t);
  }

  if (raw.mode.value) {
    const auto& m = *raw.mode.value;
    if (m == "tcp_only") {
      c.mode = relay_mode::tcp_only;
    } else if (m == "tcp_and_udp") {
      c.mode = relay_mode::tcp_and_udp;
    } else if (m == "udp_only") {
      c.mode = relay_mode::udp_only;
    } else {
      errors.push_back(
          {raw.mode.given_as, "must be tcp_only, tcp_and_udp or udp_only, not \"" + m + "\""});
    }
  }

  c.fast_open = raw.fast_open.value.value_or(false);
  c.no_delay = raw.no_delay.value.value_or(false);
  c.reuse_port = raw.reuse_port.value.value_or(false);
  c.ipv6_first = raw.ipv6_first.value.value_or(false);
  c.outbound_allow_private = raw.outbound_allow_private.value.value_or(false);
  if (auto n = checked(raw.replay_filter_capacity, 1000, 100'000'000,
                       "from 1000 to 100000000 salts", errors)) {
    c.replay_filter_capacity = static_cast<std::size_t>(*n);
  }
  if (raw.replay_state_file.value) {
    c.replay_state_file = *raw.replay_state_file.value;
    if (c.replay_state_file.empty()) errors.push_back({raw.replay_state_file.given_as, "is empty"});
  }
  if (auto n = checked(raw.max_connections, 1, 10'000'000, "from 1 to 10000000", errors)) {
    c.max_connections = static_cast<std::size_t>(*n);
  }

  if (kind == app_kind::tunnel) {
    if (!raw.tunnel_address.value) {
      errors.push_back({"tunnel_address", "is required for ss-tunnel (-L host:port)"});
    } else {
      auto t = target_address::parse(*raw.tunnel_address.value);
      if (!t || t->port() == 0) {
        errors.push_back({raw.tunnel_address.given_as,
                          "must be host:port or [IPv6]:port with a port from 1 to 65535, not \"" +
                              *raw.tunnel_address.value + "\""});
      } else {
        c.tunnel_target = *t;
      }
    }
  }

  if (auto t = checked(raw.udp_timeout, 1, 86400, "from 1 to 86400 seconds", errors)) {
    c.udp_timeout = std::chrono::seconds(*t);
  }
  if (auto n = checked(raw.udp_max_associations, 1, 1 << 20, "from 1 to 1048576", errors)) {
    c.udp_max_associations = static_cast<std::size_t>(*n);
  }

  c.workers = hardware_threads == 0 ? 1 : hardware_threads;
  if (auto n = checked(raw.workers, 1, 1024, "from 1 to 1024", errors)) {
    c.workers = static_cast<unsigned>(*n);
  }

  if (!errors.empty()) return errors;
  return c;
}

}  // namespace ss
