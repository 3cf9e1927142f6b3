// JSON loading, merging and validation, all driven by the key table (keys.cpp).

#include "shadowsocks/config/config.hpp"

#include <nlohmann/json.hpp>

#include "shadowsocks/codec/sip002.hpp"
#include "shadowsocks/codec/text.hpp"

namespace ss {

namespace {

using json = nlohmann::json;

// Keys libev or rust users may have in their files that we do not act on (yet): a warning,
// not an error, so that a copied config still starts.
constexpr std::string_view known_but_ignored[] = {
    "user", "plugin", "plugin_opts",        "plugin_args",        "nameserver", "acl",
    "mtu",  "mptcp",  "local_ipv4_address", "local_ipv6_address", "nofile",     "remarks"};

// A string or a list of strings (libev's "server").
std::optional<raw_value> read_json_list(const json& v, std::string& problem) {
  if (v.is_string()) return raw_value{std::vector<std::string>{v.get<std::string>()}};
  if (!v.is_array()) {
    problem = "must be a string or a list of strings, not " + std::string(v.type_name());
    return std::nullopt;
  }
  std::vector<std::string> items;
  for (const auto& item : v) {
    if (!item.is_string()) {
      problem = "list entries must be strings, not " + std::string(item.type_name());
      return std::nullopt;
    }
    items.push_back(item.get<std::string>());
  }
  return raw_value{std::move(items)};
}

// One JSON value as the key's type; nullopt and `problem` when it is not of that type.
std::optional<raw_value> read_json(const json& v, value_type type, std::string& problem) {
  std::string got = v.type_name();
  switch (type) {
    case value_type::string:
      if (v.is_string()) return raw_value{v.get<std::string>()};
      problem = "must be a string, not " + got;
      return std::nullopt;
    case value_type::boolean:
      if (v.is_boolean()) return raw_value{v.get<bool>()};
      problem = "must be true or false, not " + got;
      return std::nullopt;
    case value_type::integer:
    case value_type::count:
      // libev accepts numbers and numeric strings for ports and timeouts alike.
      if (v.is_number_integer()) return raw_value{v.get<std::int64_t>()};
      if (v.is_string()) {
        auto text = v.get<std::string>();
        if (auto n = parse_integer(text)) return raw_value{*n};
        problem = "must be a whole number, not \"" + text + "\"";
        return std::nullopt;
      }
      problem = "must be a whole number, not " + got;
      return std::nullopt;
    case value_type::string_list:
      return read_json_list(v, problem);
  }
  problem = "has a type no key has";
  return std::nullopt;
}

// nlohmann's message from "line": "[json.exception.parse_error.101] parse error at line 3,
// column 5: ..." -> "line 3, column 5: ...".
std::string describe_json_error(const json::exception& e) {
  std::string what = e.what();
  auto at = what.find("line");
  if (at == std::string::npos) at = what.find("] ") == std::string::npos ? 0 : what.find("] ") + 2;
  return what.substr(at);
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
  auto parsed = parse_server_url(*text);
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
  for (const char* other : {"server", "server_port", "method", "password", "key"}) {
    if (!raw[other].value) continue;
    errors.push_back({f.given_as, "conflicts with " + raw[other].given_as +
                                      " (the URL already names the server, port, method and "
                                      "password)"});
    clash = true;
  }
  if (clash) return true;
  std::string source = f.given_as;
  raw["server"].set(std::vector<std::string>{u.host}, source);
  raw["server_port"].set(std::int64_t{u.port}, source);
  raw["method"].set(u.method, source);
  raw["password"].set(u.password, source);
  return true;
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
    errors.push_back({"config file", "not valid JSON: " + describe_json_error(e)});
    return;
  }
  if (!doc.is_object()) {
    errors.push_back(
        {"config file", "must hold a JSON object, not " + std::string(doc.type_name())});
    return;
  }
  for (const auto& [name, v] : doc.items()) {
    const key_spec* k = find_key(name);
    if (k == nullptr || !k->in_json) {
      bool known = false;
      for (auto ignored : known_but_ignored)
        known = known || ignored == name;
      warnings.push_back(known ? "config key \"" + name + "\" is not supported yet and is ignored"
                               : "unknown config key \"" + name + "\" is ignored");
      continue;
    }
    std::string problem;
    if (auto value = read_json(v, k->type, problem)) {
      out[name].set(std::move(*value), name);
    } else {
      errors.push_back({name, std::move(problem)});
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

std::variant<config, std::vector<config_error>> validate(const raw_config& given, program prog,
                                                         unsigned hardware_threads) {
  std::vector<config_error> errors;
  raw_config raw = given;
  const bool url_usable = expand_server_url(raw, prog, errors);
  config c;
  c.prog = prog;
  validation v{raw, prog, url_usable, hardware_threads, errors};
  for (const auto& key : config_keys()) {
    if (key.validate != nullptr && includes(key.programs, prog)) {
      key.validate(v, raw[key.name], c);
    }
  }
  if (!errors.empty()) return errors;
  return c;
}

}  // namespace ss
