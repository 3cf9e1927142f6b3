#include "shadowsocks/config/manager_protocol.hpp"

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/config/keys.hpp"

namespace ss::manager {

namespace {

using json = nlohmann::json;

// libev drops a request over half its 64 KiB buffer.
constexpr std::size_t max_request = 65535 / 2;

// A port as libev takes it: a number, or a string of digits.
std::optional<std::uint16_t> port_of(const json& v) {
  std::int64_t n = -1;
  if (v.is_number_integer()) {
    n = v.get<std::int64_t>();
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 5) return std::nullopt;
    n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
  }
  if (n < 1 || n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(n);
}

// The JSON object of an add/remove/stat: from the first '{' to the end.
result<json, problem> object_of(std::string_view rest) {
  auto brace = rest.find('{');
  if (brace == std::string_view::npos) return problem{"no JSON object"};
  // libev sends stat with a trailing NUL; a panel may end its line with a newline.
  auto body = rest.substr(brace);
  while (!body.empty() && (body.back() == '\0' || body.back() == '\n' || body.back() == '\r'))
    body.remove_suffix(1);
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return problem{"not a JSON object"};
  return doc;
}

// The optional string `key` of `obj`, when it is one.
std::optional<std::string> string_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

parsed server_command(verb what, std::string_view rest) {
  parsed out;
  auto obj = object_of(rest);
  if (!obj) {
    out.reply_err = true;
    out.problem = obj.error().message;
    return out;
  }
  command c;
  c.what = what;
  auto port = obj->find("server_port");
  auto p = port != obj->end() ? port_of(*port) : std::nullopt;
  if (!p) {
    out.reply_err = true;
    out.problem = "no server_port from 1 to 65535";
    return out;
  }
  c.server.port = *p;
  if (what == verb::add) {
    auto password = string_of(*obj, "password");
    if (!password || password->empty()) {
      out.reply_err = true;
      out.problem = "no password";
      return out;
    }
    c.server.password = *password;
    for (const auto& [key, value] : obj->items()) {
      const key_spec* k = find_key(key);
      if (key == "server_port" || key == "password" || k == nullptr || !k->in_json ||
          (k->scope & per_port) == 0) {
        continue;
      }
      c.server.keys.emplace_back(key, value.dump());
    }
  }
  out.cmd = std::move(c);
  return out;
}

parsed stat_command(std::string_view rest) {
  parsed out;
  auto obj = object_of(rest);
  if (!obj) {
    out.problem = obj.error().message;
    return out;
  }
  command c;
  c.what = verb::stat;
  for (const auto& [key, value] : obj->items()) {
    auto port = port_of(json(key));
    if (port && value.is_number_unsigned())
      c.traffic.emplace_back(*port, value.get<std::uint64_t>());
  }
  out.cmd = std::move(c);
  return out;
}

}  // namespace

parsed parse(std::string_view datagram) {
  parsed out;
  if (datagram.size() > max_request) {
    out.problem = "request too large";
    return out;
  }
  // The command: after any white space, up to white space or ':' (as libev reads it).
  std::size_t pos = 0;
  while (pos < datagram.size() && std::isspace(static_cast<unsigned char>(datagram[pos])))
    ++pos;
  std::size_t end = pos;
  while (end < datagram.size() && !std::isspace(static_cast<unsigned char>(datagram[end])) &&
         datagram[end] != ':' && datagram[end] != '\0')
    ++end;
  auto action = datagram.substr(pos, end - pos);
  auto rest = datagram.substr(end);
  if (action == "add") out = server_command(verb::add, rest);
  if (action == "remove") out = server_command(verb::remove, rest);
  if (action == "stat") out = stat_command(rest);
  if (action == "list" || action == "ping") {
    out.cmd = command{action == "list" ? verb::list : verb::ping, {}, {}};
  }
  if (!out.cmd && out.problem.empty()) out.problem = "unknown command";
  // For the log: at most 32 bytes of what came, printable.
  for (char c : action.substr(0, 32))
    out.action += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out;
}

std::string json_string(std::string_view s) {
  return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_list(const std::vector<list_entry>& servers) {
  std::string out = "[";
  for (const auto& s : servers) {
    out += "\n\t{\"server_port\":\"" + std::to_string(s.port) +
           "\",\"password\":" + json_string(s.password) + ",\"method\":" + json_string(s.method) +
           "},";
  }
  // libev drops the last comma (Debian's 3.3.5 answers "[\n]" for no server at all).
  if (!servers.empty()) out.pop_back();
  return out + "\n]";
}

std::string format_stat(const std::vector<std::pair<std::uint16_t, std::uint64_t>>& traffic) {
  std::string out = "stat: {";
  for (const auto& [port, bytes] : traffic) {
    out += '"' + std::to_string(port) + "\":" + std::to_string(bytes) + ',';
  }
  if (!traffic.empty()) out.pop_back();
  return out + '}';
}

std::string format_push(std::uint16_t port, std::uint64_t traffic) {
  return format_stat({{port, traffic}});
}

}  // namespace ss::manager
