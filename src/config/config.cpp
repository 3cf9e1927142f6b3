// JSON loading, merging and validation, all driven by the key table (keys.cpp).

#include "shadowsocks/config/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "shadowsocks/codec/sip002.hpp"
#include "shadowsocks/codec/text.hpp"

namespace ss {

namespace {

using json = nlohmann::json;

// Keys libev, shadowsocks-rust or GUI clients may have in their files that we do not act on
// (yet): a warning, not an error, so that a copied config still starts. (A key one or two
// letters from a key of ours that is not in this list is taken for a typo: an error.)
// clang-format off
constexpr std::string_view known_but_ignored[] = {
    "remarks", "locals", "dns",
    "local_ipv4_address", "local_ipv6_address", "keep_alive", "protocol",
    "security", "log"};
// clang-format on

}  // namespace

result<std::string, problem> read_text_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return problem{std::strerror(errno)};
  std::stringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

namespace {

// Damerau-Levenshtein distance (optimal string alignment) of two short keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// What to say about a key that is not in the table: an error for a typo of one of ours, else
// a warning.
void unknown_key(const std::string& name, std::vector<config_error>& errors,
                 std::vector<std::string>& warnings) {
  for (auto ignored : known_but_ignored) {
    if (ignored != name) continue;
    warnings.push_back("config key \"" + name + "\" is not supported yet and is ignored");
    return;
  }
  if (auto like = resembling_key(name); !like.empty()) {
    errors.push_back({name, "is not a config key; did you mean \"" + std::string(like) + "\"?"});
    return;
  }
  warnings.push_back("unknown config key \"" + name + "\" is ignored");
}

// A string or a list of strings (libev's "server").
result<raw_value, problem> read_json_list(const json& v) {
  if (v.is_string()) return raw_value{std::vector<std::string>{v.get<std::string>()}};
  if (!v.is_array()) {
    return problem{"must be a string or a list of strings, not " + std::string(v.type_name())};
  }
  std::vector<std::string> items;
  for (const auto& item : v) {
    if (!item.is_string()) {
      return problem{"list entries must be strings, not " + std::string(item.type_name())};
    }
    items.push_back(item.get<std::string>());
  }
  return raw_value{std::move(items)};
}

// A list of {"name": "...", "password": "..."} (shadowsocks-rust's `users`).
result<raw_value, problem> read_json_users(const json& v) {
  if (!v.is_array()) {
    return problem{"must be a list of {\"name\": ..., \"password\": ...}, not " +
                   std::string(v.type_name())};
  }
  std::vector<raw_user> users;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto& item = v[i];
    std::string at = "entry " + std::to_string(i + 1);
    if (!item.is_object()) {
      return problem{at + " must be an object with \"name\" and \"password\""};
    }
    for (const auto& [k, value] : item.items()) {
      if (k != "name" && k != "password") {
        return problem{at + " has \"" + k + "\", which is not \"name\" or \"password\""};
      }
      if (!value.is_string()) {
        return problem{at + ": \"" + k + "\" must be a string"};
      }
    }
    if (!item.contains("name") || !item.contains("password")) {
      return problem{at + " needs both \"name\" and \"password\""};
    }
    users.push_back({item["name"].get<std::string>(), item["password"].get<std::string>()});
  }
  return raw_value{std::move(users)};
}

// shadowsocks-rust's `servers`: a list of objects, each kept as its JSON text and read as a
// configuration of its own when validated.
result<raw_value, problem> read_json_servers(const json& v) {
  if (!v.is_array()) {
    return problem{"must be a list of objects ({\"server_port\": ..., \"password\": ...}), not " +
                   std::string(v.type_name())};
  }
  std::vector<std::string> entries;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_object()) {
      return problem{"entry " + std::to_string(i) + " must be an object, not " +
                     std::string(v[i].type_name())};
    }
    entries.push_back(v[i].dump());
  }
  return raw_value{std::move(entries)};
}

// libev's `port_password`: {"8381": "password", ...}.
result<raw_value, problem> read_json_ports(const json& v) {
  if (!v.is_object()) {
    return problem{"must be an object of ports and passwords ({\"8381\": \"...\"}), not " +
                   std::string(v.type_name())};
  }
  std::vector<raw_user> ports;
  for (const auto& [port, password] : v.items()) {
    if (!password.is_string()) {
      return problem{"\"" + port + "\": the password must be a string, not " +
                     std::string(password.type_name())};
    }
    ports.push_back({port, password.get<std::string>()});
  }
  return raw_value{std::move(ports)};
}

// One JSON value as the key's type, or why it is not of that type.
result<raw_value, problem> read_json(const json& v, value_type type) {
  std::string got = v.type_name();
  switch (type) {
    case value_type::string:
      if (v.is_string()) return raw_value{v.get<std::string>()};
      return problem{"must be a string, not " + got};
    case value_type::boolean:
      if (v.is_boolean()) return raw_value{v.get<bool>()};
      return problem{"must be true or false, not " + got};
    case value_type::integer:
    case value_type::count:
      // libev accepts numbers and numeric strings for ports and timeouts alike.
      if (v.is_number_integer()) return raw_value{v.get<std::int64_t>()};
      if (v.is_string()) {
        auto text = v.get<std::string>();
        if (auto n = parse_integer(text)) return raw_value{*n};
        return problem{"must be a whole number, not \"" + text + "\""};
      }
      return problem{"must be a whole number, not " + got};
    case value_type::string_list:
      return read_json_list(v);
    case value_type::user_list:
      return read_json_users(v);
    case value_type::server_list:
      return read_json_servers(v);
    case value_type::port_map:
      return read_json_ports(v);
    case value_type::object:
      if (v.is_object()) return raw_value{v.dump()};
      return problem{"must be an object ({...}), not " + got};
  }
  return problem{"has a type no key has"};
}

// nlohmann's message from "line": "[json.exception.parse_error.101] parse error at line 3,
// column 5: ..." -> "line 3, column 5: ...".
std::string describe_json_error(const json::exception& e) {
  std::string what = e.what();
  auto at = what.find("line");
  if (at == std::string::npos) at = what.find("] ") == std::string::npos ? 0 : what.find("] ") + 2;
  return what.substr(at);
}

// SIP002's plugin parameter, "plugin;opt=value;...": the program and, after the first ';',
// its options.
std::pair<std::string, std::optional<std::string>> plugin_and_options(const std::string& text) {
  auto semicolon = text.find(';');
  if (semicolon == std::string::npos) return {text, std::nullopt};
  return {text.substr(0, semicolon), text.substr(semicolon + 1)};
}

// A SIP002 URL stands for server, server_port, method and password: fills them in `raw`
// (under the URL's key or flag, for messages), or says what is wrong with it. False when the
// URL was given but could not be used: the settings it stands for are then not reported
// missing as well.
bool expand_server_url(raw_config& raw, program prog, std::vector<config_error>& errors) {
  const auto& f = raw["server_url"];
  const auto* text = f.get<std::string>();
  if (text == nullptr) return true;
  if (prog == program::server) {
    errors.push_back({f.given_as,
                      "is for ss-local and ss-tunnel (ss-server prints its URL "
                      "with --print-url)"});
    return true;
  }
  // Outline's dynamic access key: ssconf://host/path (or https://...) names a document with
  // the server's details, fetched over HTTPS and refreshed like SIP008's.
  for (std::string_view scheme : {"ssconf://", "https://"}) {
    if (text->size() <= scheme.size() || !starts_with_ignoring_case(*text, scheme)) continue;
    // `online_config` may say how (update_interval, cache_file, ...), not where.
    json settings = json::object();
    if (const auto* given = raw["online_config"].get<std::string>()) {
      settings = json::parse(*given, nullptr, false);
      if (settings.is_object() && settings.contains("config_url")) {
        errors.push_back({f.given_as, "conflicts with " + raw["online_config"].given_as +
                                          ".config_url (both name where the servers come from)"});
        return false;
      }
    }
    std::string url = "https://" + text->substr(scheme.size());
    url = url.substr(0, url.find('#'));  // the key's name, for the user
    if (settings.is_object()) settings["config_url"] = url;
    auto& online = raw["online_config"];
    online.set(settings.dump(), online.value ? online.given_as : f.given_as);
    return true;
  }
  auto parsed = parse_server_url(*text);
  if (!parsed) {
    auto e = parsed.error();
    errors.push_back({f.given_as, e.part + " " + e.problem});
    return false;
  }
  auto& u = *parsed;
  // Two sources for one setting would leave the user guessing which one is used.
  bool clash = false;
  std::vector<const char*> named = {"server", "server_port", "method", "password", "key"};
  if (!u.plugin.empty()) named.insert(named.end(), {"plugin", "plugin_opts"});
  if (!u.prefix.empty()) named.push_back("prefix");
  for (const char* other : named) {
    if (!raw[other].value) continue;
    errors.push_back({f.given_as, "conflicts with " + raw[other].given_as +
                                      " (the URL already names the server, port, method and "
                                      "password)"});
    clash = true;
  }
  // Either way the URL does not stand for the settings: they are not "required" as well.
  if (clash) return false;
  std::string source = f.given_as;
  raw["server"].set(std::vector<std::string>{u.host}, source);
  raw["server_port"].set(std::int64_t{u.port}, source);
  raw["method"].set(u.method, source);
  raw["password"].set(u.password, source);
  if (!u.plugin.empty()) {
    auto [program, options] = plugin_and_options(u.plugin);
    raw["plugin"].set(std::move(program), source);
    if (options) raw["plugin_opts"].set(std::move(*options), source);
  }
  // Outline's prefix, as JSON would give it (its bytes as characters).
  if (!u.prefix.empty()) raw["prefix"].set(bytes_as_characters(u.prefix), source);
  return true;
}

}  // namespace

std::string blank_trailing_commas(std::string_view text) {
  std::string out(text);
  std::size_t pending = std::string::npos;  // a comma not yet known to be trailing
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c == '"') {
      pending = std::string::npos;
      for (++i; i < out.size() && out[i] != '"'; ++i) {
        if (out[i] == '\\') ++i;  // an escape: skip the escaped character
      }
    } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      i = std::min(out.find('\n', i), out.size());
    } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '*') {
      i = std::min(out.find("*/", i + 2), out.size()) + 1;
    } else if (c == ',') {
      pending = i;
    } else if ((c == '}' || c == ']') && pending != std::string::npos) {
      out[pending] = ' ';
      pending = std::string::npos;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      pending = std::string::npos;
    }
  }
  return out;
}

std::string expand_environment(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    auto open = text.find('%', i);
    if (open == std::string_view::npos) break;
    auto close = text.find('%', open + 1);
    if (close == std::string_view::npos) break;
    out.append(text.substr(i, open - i));
    std::string name(text.substr(open + 1, close - open - 1));
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr) {
      // Not a variable: the `%` stays, and the closing one may open the next name.
      out += '%';
      i = open + 1;
      continue;
    }
    out += value;
    i = close + 1;
  }
  out.append(text.substr(i));
  return out;
}

std::string_view resembling_key(std::string_view key) {
  std::string_view best;
  std::size_t best_distance = 3;
  auto consider = [&](std::string_view known) {
    std::size_t d = edit_distance(key, known);
    if (d < best_distance && d > 0) {
      best = known;
      best_distance = d;
    }
  };
  if (key.size() < 3) return best;  // two letters are two edits from anything that short
  for (const auto& k : config_keys()) {
    if (k.in_json) consider(k.name);
  }
  return best;
}

void load_json_config(std::string_view json_text, raw_config& out,
                      std::vector<config_error>& errors, std::vector<std::string>& warnings,
                      std::string_view source) {
  json doc;
  try {
    // Comments as shadowsocks-rust accepts them; trailing commas as libev's parser does.
    doc = json::parse(blank_trailing_commas(json_text), nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& e) {
    // parse_error for syntax, but also out_of_range for a number too large for a double
    // (found by fuzz_config: {"timeout": 15e66666666}).
    errors.push_back({std::string(source), "not valid JSON: " + describe_json_error(e)});
    return;
  }
  if (!doc.is_object()) {
    errors.push_back(
        {std::string(source), "must hold a JSON object, not " + std::string(doc.type_name())});
    return;
  }
  for (const auto& [name, v] : doc.items()) {
    const key_spec* k = find_key(name);
    if (k == nullptr || !k->in_json) {
      unknown_key(name, errors, warnings);
      continue;
    }
    if (auto value = read_json(v, k->type)) {
      out[name].set(std::move(value).value(), name);
    } else {
      errors.push_back({name, value.error().message});
    }
  }
}

void merge_config(raw_config& file, const raw_config& flags) {
  auto from = flags.fields();
  auto into = file.fields();
  for (std::size_t i = 0; i < into.size(); ++i) {
    if (from[i].value) into[i] = from[i];
  }
}

std::vector<std::string> keep_fixed_settings(const raw_config& running, raw_config& next,
                                             program prog) {
  std::vector<std::string> kept;
  auto keys = config_keys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& was = running.fields()[i];
    auto& now = next.fields()[i];
    if (!includes(keys[i].fixed_in, prog) || now.value == was.value) continue;
    kept.emplace_back(keys[i].name);
    now = was;
  }
  return kept;
}

namespace {

// Why key `name` cannot work on this system (refused when given, not ignored), or empty.
std::string_view unavailable_here(std::string_view name) {
#ifdef _WIN32
  static constexpr std::pair<std::string_view, std::string_view> windows[] = {
      {"user", "is not available on Windows: there is no user to switch to"},
      {"pid_file",
       "is not available on Windows: there is no fork (--service install runs it in the "
       "background, started at boot)"},
      {"mark", "is not available on Windows: firewall marks are Linux's"},
      {"mptcp", "is not available on Windows: Multipath TCP is Linux's"},
      {"reuse_port", "is not available on Windows: it has no SO_REUSEPORT"},
      {"fast_open", "is not available in the Windows build"},
  };
  for (const auto& [key, why] : windows) {
    if (key == name) return why;
  }
#else
  (void)name;
#endif
  return {};
}

#ifdef _WIN32
// The keys that name a file or a program, whose `%NAME%` are expanded on Windows.
constexpr std::string_view file_keys[] = {"acl",
                                          "log_file",
                                          "plugin",
                                          "replay_state_file",
                                          "manager_state_file",
                                          "socks5_auth_config_path"};

void expand_file_names(raw_config& raw) {
  for (auto key : file_keys) {
    auto& field = raw[key];
    if (const auto* text = field.get<std::string>(); text != nullptr) {
      field.value = expand_environment(*text);
    }
  }
}
#endif

// Every key of the table but the `servers` and `port_password` entries; the server keys are
// not required when `server_keys_required` is false.
config validate_one(raw_config& raw, program prog, unsigned hardware_threads,
                    bool server_keys_required, std::vector<config_error>& errors,
                    std::vector<std::string>* warnings) {
  config c;
  c.prog = prog;
  validation v{raw, prog, server_keys_required, hardware_threads, errors, warnings};
  for (const auto& key : config_keys()) {
    if (key.validate == nullptr || !includes(key.programs, prog)) continue;
    if (auto why = unavailable_here(key.name); !why.empty() && raw[key.name].value) {
      errors.push_back({raw[key.name].given_as, std::string(why)});
      continue;
    }
    key.validate(v, raw[key.name], c);
  }
  return c;
}

// Whether a `servers` entry of `prog` may set `k` (the key table's scope column): ss-server's
// per port, a client's per server.
bool entry_may_set(const key_spec& k, program prog) {
  return (k.scope & (prog == program::server ? per_port : per_server)) != 0;
}

// What a server entry starts from: the top level without the keys an entry does not inherit
// (the key table's scope column: a port's own keys, and on a client the keys of one server).
raw_config entry_base(const raw_config& top, program prog) {
  raw_config base = top;
  const key_scope own = prog == program::server ? own_per_port : own_per_server;
  for (const auto& k : config_keys()) {
    if ((k.scope & own) != 0) base[k.name] = raw_field{};
  }
  return base;
}

// What an entry says beside the keys of the table.
struct entry_extras {
  std::string name;  // `name` (or SIP008's `remarks`)
  double tcp_weight = 1.0;
  double udp_weight = 1.0;
  bool disabled = false;  // shadowsocks-rust's `disabled`
};

// A weight of a client's server: a number above 0.
result<double, problem> read_weight(const json& value) {
  if (!value.is_number() || !(value.get<double>() > 0) || value.get<double>() > 1e6) {
    return problem{"must be a number above 0 (a share relative to the other servers'), not " +
                   value.dump()};
  }
  return value.get<double>();
}

// One `servers` entry (JSON text) of `prog` over `base`, its extras into `extras`.
void read_server_entry(const std::string& text, const std::string& at, program prog,
                       raw_config& entry, entry_extras& extras, std::vector<config_error>& errors,
                       std::vector<std::string>* warnings) {
  auto doc = json::parse(text);
  const bool client = prog != program::server;
  for (const auto& [key, value] : doc.items()) {
    std::string given_as = at + "." + key;
    if (key == "name" || (client && key == "remarks")) {
      if (value.is_string() && !value.get<std::string>().empty()) {
        if (key == "name" || extras.name.empty()) extras.name = value.get<std::string>();
      } else if (key == "name") {
        errors.push_back({given_as, "must be a non-empty string"});
      }
      continue;
    }
    if (key == "weight" || key == "tcp_weight" || key == "udp_weight") {
      if (!client) {
        if (warnings != nullptr) warnings->push_back(given_as + ": for clients only, ignored");
      } else if (auto weight = read_weight(value); !weight) {
        errors.push_back({given_as, weight.error().message});
      } else {
        if (key != "udp_weight") extras.tcp_weight = *weight;
        if (key != "tcp_weight") extras.udp_weight = *weight;
      }
      continue;
    }
    if (client && key == "disabled") {
      if (value.is_boolean()) {
        extras.disabled = value.get<bool>();
      } else {
        errors.push_back({given_as, "must be true or false"});
      }
      continue;
    }
    if (client && key == "id") continue;  // SIP008: the provider's identifier of the server
    const key_spec* k = find_key(key);
    if (k == nullptr || !k->in_json) {
      if (warnings != nullptr) warnings->push_back(given_as + ": unknown key, ignored");
      continue;
    }
    if (client && key == "timeout") {
      if (warnings != nullptr) {
        warnings->push_back(given_as + ": a client's timeout is the top level's; ignored here");
      }
      continue;
    }
    if (!entry_may_set(*k, prog)) {
      errors.push_back({given_as, "applies to the whole process; set it at the top level"});
      continue;
    }
    if (auto v = read_json(value, k->type)) {
      entry[key].set(std::move(v).value(), given_as);
    } else {
      errors.push_back({given_as, v.error().message});
    }
  }
}

// A client's server from `entry` (the top level's keys but its server's, with the entry's):
// `top`'s server with the server keys of the entry. Its problems are named after the entry.
std::optional<server_entry> validate_upstream(const raw_config& entry, const std::string& at,
                                              const config& top, const entry_extras& extras,
                                              std::vector<config_error>& errors,
                                              std::vector<std::string>* warnings) {
  // The validators fill a whole configuration; the entry's keys are the server's only.
  config c;
  c.prog = top.prog;
  c.timeout = top.timeout;  // a client's is the top level's
  c.mode = top.mode;
  std::vector<config_error> found;
  validation v{entry, top.prog, true, 1, found, warnings};
  for (const auto& key : config_keys()) {
    if (key.validate == nullptr || !entry_may_set(key, top.prog)) continue;
    key.validate(v, entry[key.name], c);
  }
  for (auto& e : found) {
    if (!e.key.starts_with(at)) e.key = at + "." + e.key;
    errors.push_back(std::move(e));
  }
  if (!found.empty()) return std::nullopt;
  c.name = extras.name;
  c.tcp_weight = extras.tcp_weight;
  c.udp_weight = extras.udp_weight;
  return server_entry(std::move(c));
}

// A client's servers: the top level's (each host its own server, or all of them behind its
// one plugin), then the entries of `servers` that are not disabled.
void add_upstreams(const raw_config& raw, config& top, std::vector<config_error>& errors,
                   std::vector<std::string>* warnings) {
  if (top.key && !top.server_hosts.empty() && top.server_port != 0) {
    server_entry one = top;
    if (!top.plugin.empty()) {
      top.servers.push_back(std::move(one));
    } else {
      for (const auto& host : top.server_hosts) {
        auto each = one;
        each.server_hosts = {host};
        top.servers.push_back(std::move(each));
      }
    }
  }
  const auto* list = raw["servers"].get<std::vector<std::string>>();
  if (list == nullptr) return;
  const auto base = entry_base(raw, top.prog);
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto entry = base;
    std::string at = raw["servers"].given_as + "[" + std::to_string(i) + "]";
    entry_extras extras;
    std::size_t before = errors.size();
    read_server_entry((*list)[i], at, top.prog, entry, extras, errors, warnings);
    if (errors.size() != before || extras.disabled) continue;
    if (auto c = validate_upstream(entry, at, top, extras, errors, warnings)) {
      top.servers.push_back(std::move(*c));
    }
  }
}

// Whether `a` and `b` may share a port as two keys of it: 2017 methods (found by trying the
// keys), with the same addresses, mode, plugin and timeout.
bool may_share_port(const server_entry& a, const server_entry& b) {
  return !a.key->cipher().is_2022() && !b.key->cipher().is_2022() &&
         a.server_hosts == b.server_hosts && a.mode == b.mode && a.plugin == b.plugin &&
         a.plugin_opts == b.plugin_opts && a.plugin_args == b.plugin_args &&
         a.plugin_udp == b.plugin_udp && a.timeout == b.timeout;
}

// The keys of `port`'s server being built: its own first.
using rings = std::map<std::uint16_t, std::shared_ptr<key_ring>>;

// Validates one server entry; its problems are named after the entry (`servers[1].password`).
// A second 2017 server on a port becomes another key of the first.
void add_server(raw_config& entry, const std::string& at, std::string name, config& top,
                rings& shared, unsigned hardware_threads, std::vector<config_error>& errors,
                std::vector<std::string>* warnings) {
  std::vector<config_error> found;
  auto c = validate_one(entry, program::server, hardware_threads, true, found, warnings);
  for (auto& e : found) {
    if (!e.key.starts_with(at)) e.key = at + "." + e.key;
    errors.push_back(std::move(e));
  }
  if (!found.empty()) return;
  c.name = std::move(name);
  for (auto& other : top.servers) {
    if (c.server_port == 0 || other.server_port != c.server_port) continue;
    std::string whose = other.name.empty() ? "the top level's" : other.name;
    if (!may_share_port(other, c)) {
      errors.push_back({at + ".server_port",
                        "port " + std::to_string(c.server_port) +
                            " is already that of another server (" + whose +
                            "); servers share a port only as keys of 2017 methods with the same "
                            "address, mode, plugin and timeout"});
      return;
    }
    auto& ring = shared[c.server_port];
    if (!ring) {
      ring = std::make_shared<key_ring>();
      ring->add(other.name.empty() ? std::to_string(other.server_port) : other.name, *other.key);
      other.keys = ring;
    }
    if (!ring->add(c.name, *c.key)) {
      errors.push_back({at + ".password", "is the key of another server on port " +
                                              std::to_string(c.server_port) +
                                              " with the same "
                                              "method; each user of a port needs a key of their "
                                              "own"});
    }
    return;
  }
  top.servers.push_back(server_entry(std::move(c)));
}

// ss-server's servers: the top level's own (when it names a port, or nothing else names
// any), then each of `port_password` and `servers`, each inheriting the other top-level keys.
void add_servers(const raw_config& raw, config& top, unsigned hardware_threads,
                 std::vector<config_error>& errors, std::vector<std::string>* warnings) {
  const bool own = raw["server_port"].value.has_value() ||
                   (!raw["servers"].value && !raw["port_password"].value);
  if (own && top.key) top.servers.push_back(server_entry(top));
  const auto base = entry_base(raw, program::server);
  rings shared;
  if (const auto* ports = raw["port_password"].get<std::vector<raw_user>>()) {
    for (const auto& [port, password] : *ports) {
      auto entry = base;
      std::string at = "port_password[\"" + port + "\"]";
      auto n = parse_integer(port);
      if (!n || *n < 1 || *n > 65535) {
        errors.push_back({at, "must be a port number from 1 to 65535"});
        continue;
      }
      entry["server_port"].set(*n, at);
      entry["password"].set(password, at);
      add_server(entry, at, port, top, shared, hardware_threads, errors, warnings);
    }
  }
  if (const auto* list = raw["servers"].get<std::vector<std::string>>()) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto entry = base;
      std::string at = "servers[" + std::to_string(i) + "]";
      entry_extras extras;
      std::size_t before = errors.size();
      read_server_entry((*list)[i], at, program::server, entry, extras, errors, warnings);
      if (errors.size() != before) continue;
      auto name = extras.name.empty() ? at : extras.name;
      add_server(entry, at, std::move(name), top, shared, hardware_threads, errors, warnings);
    }
  }
}

}  // namespace

result<config, std::vector<config_error>> validate(const raw_config& given, program prog,
                                                   unsigned hardware_threads,
                                                   std::vector<std::string>* warnings,
                                                   bool allow_no_server) {
  std::vector<config_error> errors;
  raw_config raw = given;
  bool required = expand_server_url(raw, prog, errors);
#ifdef _WIN32
  expand_file_names(raw);
#endif
  // ss-server with a list of servers: its own server only when it names a port.
  const bool listed = prog == program::server &&
                      (raw["servers"].value.has_value() || raw["port_password"].value.has_value());
  if ((listed || allow_no_server) && !raw["server_port"].value) required = false;
  // A client with a list of servers (or one from a URL): its own only when it names one.
  const bool client_listed = prog != program::server && (raw["servers"].value.has_value() ||
                                                         raw["online_config"].value.has_value());
  if (client_listed && !raw["server"].value && !raw["server_port"].value) required = false;
  auto c = validate_one(raw, prog, hardware_threads, required, errors, warnings);
  if (!errors.empty()) return errors;
  if (prog != program::server) {
    add_upstreams(raw, c, errors, warnings);
    if (errors.empty() && c.servers.empty() && !c.online) {
      errors.push_back({"servers",
                        "names no server (give server, server_port and password, or entries "
                        "in servers that are not disabled)",
                        true});
    }
  }
  if (prog == program::server) {
    add_servers(raw, c, hardware_threads, errors, warnings);
    if (errors.empty() && c.servers.empty() && !allow_no_server) {
      errors.push_back({"servers",
                        "names no server (give server_port and password, or entries "
                        "in port_password or servers)"});
    }
  }
  if (!errors.empty()) return errors;
  return c;
}

config serving(const config& top, const server_entry& s) {
  config c = top;
  static_cast<server_entry&>(c) = s;
  c.servers.clear();
  return c;
}

namespace {

// An Outline dynamic access key's document as SIP008's: one server, from the JSON object of its
// details or from an ss:// URL (the two shapes Outline serves); unchanged otherwise.
result<json, problem> as_sip008(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  auto trimmed = start == std::string_view::npos ? std::string_view() : text.substr(start);
  trimmed = trimmed.substr(0, trimmed.find_last_not_of(" \t\r\n") + 1);
  if (starts_with_ignoring_case(trimmed, "ss://")) {
    auto u = parse_server_url(trimmed);
    if (!u) return problem{"an ss:// URL whose " + u.error().part + " " + u.error().problem};
    json entry = {{"server", u->host},
                  {"server_port", u->port},
                  {"method", u->method},
                  {"password", u->password}};
    if (!u->plugin.empty()) {
      auto [program, options] = plugin_and_options(u->plugin);
      entry["plugin"] = std::move(program);
      if (options) entry["plugin_opts"] = std::move(*options);
    }
    if (!u->prefix.empty()) entry["prefix"] = bytes_as_characters(u->prefix);
    if (!u->tag.empty()) entry["remarks"] = u->tag;
    return json{{"version", 1}, {"servers", json::array({entry})}};
  }
  json doc;
  try {
    doc = json::parse(trimmed);
  } catch (const json::exception& e) {
    return problem{"not JSON: " + describe_json_error(e)};
  }
  if (doc.is_object() && !doc.contains("version") && !doc.contains("servers") &&
      doc.contains("server")) {
    return json{{"version", 1}, {"servers", json::array({doc})}};
  }
  return doc;
}

}  // namespace

result<online_servers, problem> read_sip008(std::string_view text, const config& top) {
  auto converted = as_sip008(text);
  if (!converted) return converted.error();
  const json& doc = *converted;
  if (!doc.is_object()) return problem{"not a SIP008 document (a JSON object)"};
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || version->get<int>() != 1) {
    return problem{"not a SIP008 document of version 1 (\"version\": 1)"};
  }
  auto list = doc.find("servers");
  if (list == doc.end() || !list->is_array()) return problem{"has no \"servers\" list"};
  static const std::vector<std::string> none;
  const auto& allowed = top.online ? top.online->allowed_plugins : none;
  online_servers out;
  raw_config empty;
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string at = "servers[" + std::to_string(i) + "]";
    const auto& item = (*list)[i];
    if (!item.is_object()) {
      out.left_out.push_back(at + ": not an object");
      continue;
    }
    // SIP008 names each of these; a missing one is not taken from our own settings.
    std::string missing;
    for (const char* k : {"server", "server_port", "password", "method"}) {
      if (!item.contains(k)) missing += missing.empty() ? k : std::string(", ") + k;
    }
    if (!missing.empty()) {
      out.left_out.push_back(at + ": has no " + missing);
      continue;
    }
    // A document from a URL must not be able to run a program here: only the plugins the
    // user named may be started.
    if (auto p = item.find("plugin");
        p != item.end() && p->is_string() && !p->get<std::string>().empty() &&
        std::ranges::find(allowed, p->get<std::string>()) == allowed.end()) {
      out.left_out.push_back(at + ": its plugin \"" + p->get<std::string>() +
                             "\" is not in online_config.allowed_plugins");
      continue;
    }
    raw_config entry = empty;
    entry_extras extras;
    std::vector<config_error> errors;
    read_server_entry(item.dump(), at, top.prog, entry, extras, errors, nullptr);
    std::optional<server_entry> c;
    if (errors.empty() && !extras.disabled) {
      c = validate_upstream(entry, at, top, extras, errors, nullptr);
    }
    if (!errors.empty()) {
      out.left_out.push_back(errors.front().to_string());
      continue;
    }
    if (c) out.servers.push_back(std::move(*c));
  }
  if (out.servers.empty()) {
    std::string why = out.left_out.empty() ? std::string() : " (" + out.left_out.front() + ")";
    return problem{"names no server we can use" + why};
  }
  return out;
}

void override_servers(raw_config& raw, const std::map<std::uint16_t, std::string>& added,
                      const std::set<std::uint16_t>& removed) {
  auto taken = [&](std::int64_t port) {
    return port > 0 && port < 65536 &&
           (added.contains(static_cast<std::uint16_t>(port)) ||
            removed.contains(static_cast<std::uint16_t>(port)));
  };
  if (const auto* port = raw["server_port"].get<std::int64_t>(); port && taken(*port)) {
    raw["server_port"] = raw_field{};
  }
  if (const auto* ports = raw["port_password"].get<std::vector<raw_user>>()) {
    auto kept = *ports;
    std::erase_if(kept, [&](const raw_user& p) {
      auto n = parse_integer(p.name);
      return n && taken(*n);
    });
    raw["port_password"].set(std::move(kept), raw["port_password"].given_as);
  }
  std::vector<std::string> list;
  std::string given_as = "servers";
  if (const auto* entries = raw["servers"].get<std::vector<std::string>>()) {
    given_as = raw["servers"].given_as;
    for (const auto& e : *entries) {
      auto doc = json::parse(e, nullptr, false);
      auto port = doc.is_object() ? doc.find("server_port") : doc.end();
      std::int64_t n = 0;
      if (port != doc.end() && port->is_number_integer()) n = port->get<std::int64_t>();
      if (port != doc.end() && port->is_string()) {
        n = parse_integer(port->get<std::string>()).value_or(0);
      }
      if (!taken(n)) list.push_back(e);
    }
  }
  for (const auto& [port, entry] : added)
    list.push_back(entry);
  if (!list.empty() || raw["servers"].value) raw["servers"].set(std::move(list), given_as);
}

}  // namespace ss
