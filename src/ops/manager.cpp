#include "shadowsocks/ops/manager.hpp"
#include "shadowsocks/runtime/platform.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace ss {

namespace {

// A UDP manager address as an endpoint ("localhost" is 127.0.0.1, as libev reads it).
udp::endpoint udp_endpoint(const target_address& at, boost::system::error_code& ec) {
  auto host = at.host_string();
  return {net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec), at.port()};
}

}  // namespace

std::vector<std::pair<std::uint16_t, std::uint64_t>> port_traffic(const traffic_registry& r) {
  std::map<std::uint16_t, std::uint64_t> by_port;
  for (const auto& [port, failures] : r.ports())
    by_port[port] += 0;  // a port with no traffic yet is listed too
  for (const auto& [key, c] : r.users()) {
    by_port[key.first] += c->total(tcp_bytes_up) + c->total(tcp_bytes_down) +
                          c->total(udp_bytes_up) + c->total(udp_bytes_down);
  }
  return {by_port.begin(), by_port.end()};
}

manager_link::manager_link(net::io_context& control, const config& c) {
  boost::system::error_code ec;
  if (c.manager_udp) {
    udp_to_ = udp_endpoint(*c.manager_udp, ec);
    udp_.emplace(control);
    udp_->open(udp_to_->protocol(), ec);
  } else {
    path_ = c.manager_address;
    unix_.emplace(control);
    unix_->open(net::local::datagram_protocol(), ec);
  }
  if (ec) spdlog::warn("manager {}: cannot open a socket: {}", c.manager_address, ec.message());
}

void manager_link::send(const std::string& text) {
  boost::system::error_code ec;
  if (udp_) {
    udp_->send_to(net::buffer(text), *udp_to_, 0, ec);
  } else if (unix_) {
    unix_->send_to(net::buffer(text), net::local::datagram_protocol::endpoint(path_), 0, ec);
  }
  if (ec && !warned_) {
    warned_ = true;  // once: a manager that is not up yet is normal at start
    spdlog::warn("manager: cannot send traffic stats: {}", ec.message());
  } else if (!ec) {
    warned_ = false;
  }
}

stat_pusher::stat_pusher(net::io_context& control, const config& c,
                         std::shared_ptr<process_state> state, steady_clock::duration interval)
    : timer_(control), link_(control, c), state_(std::move(state)), interval_(interval) {
  schedule();
}

void stat_pusher::schedule() {
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (const auto& [port, bytes] : port_traffic(state_->traffic)) {
      auto text = manager::format_push(port, bytes);
      text += '\0';  // libev's ss-server sends the C string with its NUL
      link_.send(text);
    }
    schedule();
  });
}

}  // namespace ss

namespace ss {

namespace {

// libev's ss-manager listens here when no --manager-address is given.
constexpr const char* default_manager_address = "127.0.0.1:8839";

// The `servers` entry of an added port: its settings, and its port as its name.
// A problem of the configuration with the API's ports, as the command gave it: the ports are
// entries of `servers` there, which the user never wrote ("servers[2].method: ..." is the
// add's "method: ...").
std::string in_commands_terms(std::string problem) {
  constexpr std::string_view list = "servers[";
  if (problem.starts_with(list)) {
    auto close = problem.find("].");
    if (close != std::string::npos) problem.erase(0, close + 2);
  }
  return problem;
}

std::string entry_of(const manager::server_spec& s) {
  std::string e = "{\"server_port\":" + std::to_string(s.port) +
                  ",\"password\":" + manager::json_string(s.password) + ",\"name\":\"" +
                  std::to_string(s.port) + "\"";
  for (const auto& [key, value] : s.keys)
    e += "," + manager::json_string(key) + ":" + value;
  return e + "}";
}

}  // namespace

manager_api::manager_api(net::io_context& control, const config& c,
                         std::shared_ptr<process_state> state, apply_fn apply, list_fn list)
    : control_(control),
      address_(c.manager_address.empty() ? default_manager_address : c.manager_address),
      udp_at_(c.manager_address.empty()
                  ? std::optional<target_address>(*target_address::parse(default_manager_address))
                  : c.manager_udp),
      state_file_(c.manager_state_file),
      allow_remote_(c.manager_allow_remote),
      state_(std::move(state)),
      apply_(std::move(apply)),
      list_(std::move(list)) {}

namespace {

// The temporary state file of an upgrade without a state file, in the new process's
// environment.
constexpr const char* handed_state_variable = "SS_UPGRADE_MANAGER_STATE";

}  // namespace

void manager_api::restore() {
  std::string path = state_file_;
  if (path.empty()) {
    const char* handed = std::getenv(handed_state_variable);
    if (handed == nullptr || platform::windows_build) return;  // no upgrades on Windows
    path = handed;
#ifndef _WIN32
    ::unsetenv(handed_state_variable);
#endif
  }
  auto text = read_text_file(path);
  if (path != state_file_) std::remove(path.c_str());
  if (!text) {
    spdlog::info("manager: {} not read ({}): no ports added before", path, text.error().message);
    return;
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (!doc.is_object()) {
    spdlog::warn("manager: {} is not a state file of ours; starting without it", path);
    return;
  }
  for (const auto& e : doc.value("added", nlohmann::json::array())) {
    auto p = manager::parse("add: " + e.dump());
    if (p.cmd) added_[p.cmd->server.port] = entry_of(p.cmd->server);
  }
  for (const auto& port : doc.value("removed", nlohmann::json::array())) {
    if (port.is_number_unsigned() && port.get<std::uint64_t>() - 1 < 65535) {
      removed_.insert(static_cast<std::uint16_t>(port.get<std::uint64_t>()));
    }
  }
  spdlog::info("manager: {} port(s) added and {} removed before, from {}", added_.size(),
               removed_.size(), path);
}

void manager_api::save() const {
  if (!state_file_.empty()) save_to(state_file_);
}

std::vector<std::string> manager_api::save_for_upgrade() const {
  if (!state_file_.empty()) {
    save_to(state_file_);
    return {};
  }
#ifdef _WIN32
  return {};
#else
  auto made = platform::private_temporary_file("shadowsocks-manager");
  if (!made) {
    spdlog::warn("upgrade: no temporary file for the ports added through the API ({})",
                 made.error().message);
    return {};
  }
  save_to(*made);
  return {std::string(handed_state_variable) + "=" + *made};
#endif
}

void manager_api::save_to(const std::string& path) const {
  auto doc = nlohmann::json::object();
  doc["added"] = nlohmann::json::array();
  for (const auto& [port, entry] : added_)
    doc["added"].push_back(nlohmann::json::parse(entry));
  doc["removed"] = removed_;
  // A new file, then a rename: a crash never leaves half of one.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(1) << '\n';
    if (!out) {
      spdlog::warn("manager: cannot write {}; the ports added will not survive a restart", tmp);
      return;
    }
  }
  ::chmod(tmp.c_str(), 0600);  // it holds passwords
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    spdlog::warn("manager: cannot replace {}: {}", path, std::strerror(errno));
  }
}

std::string manager_api::add(const manager::server_spec& s) {
  auto old_added = added_;
  auto old_removed = removed_;
  added_[s.port] = entry_of(s);
  removed_.erase(s.port);
  auto restore_old = [&] {
    added_ = std::move(old_added);
    removed_ = std::move(old_removed);
    (void)apply_(added_, removed_);
  };
  if (auto applied = apply_(added_, removed_); !applied) {
    spdlog::warn("manager: add of port {} refused: {}", s.port,
                 in_commands_terms(applied.error().message));
    restore_old();
    return "err";
  }
  auto served = list_();
  auto entry = std::find_if(served.begin(), served.end(),
                            [&s](const manager::list_entry& e) { return e.port == s.port; });
  if (entry == served.end()) {
    restore_old();
    return "port is not available";
  }
  // As ss-server warns about its own (a 2022 method's key has its size checked instead).
  auto cipher = find_cipher(entry->method);
  if (cipher && !(*cipher)->is_2022()) {
    if (auto w = short_password_warning("password", s.password.size())) {
      spdlog::warn("manager: port {}: {}", s.port, *w);
    }
  }
  save();
  return "ok";
}

std::string manager_api::remove(std::uint16_t port) {
  added_.erase(port);
  removed_.insert(port);
  if (auto applied = apply_(added_, removed_); !applied) {
    spdlog::warn("manager: remove of port {}: {}", port, applied.error().message);
  }
  save();
  return "ok";
}

std::string manager_api::handle(std::string_view datagram) {
  auto p = manager::parse(datagram);
  if (!p.cmd) {
    // One line per refusal: a panel's mistake is found in the log, not guessed from "err".
    spdlog::warn("manager: \"{}\" refused: {}{}", p.action, p.problem,
                 p.reply_err ? "" : " (no answer, as libev gives none)");
    return p.reply_err ? "err" : "";
  }
  switch (p.cmd->what) {
    case manager::verb::add:
      return add(p.cmd->server);
    case manager::verb::remove:
      return remove(p.cmd->server.port);
    case manager::verb::list:
      return manager::format_list(list_());
    case manager::verb::ping: {
      auto traffic = port_traffic(state_->traffic);
      std::vector<std::pair<std::uint16_t, std::uint64_t>> served;
      for (const auto& e : list_()) {
        auto it = std::find_if(traffic.begin(), traffic.end(),
                               [&e](const auto& t) { return t.first == e.port; });
        served.emplace_back(e.port, it != traffic.end() ? it->second : 0);
      }
      return manager::format_stat(served);
    }
    case manager::verb::stat:
      return "";  // for a manager of separate ss-server processes; ours count themselves
  }
  return "";
}

template <class Socket, class Endpoint>
awaitable<void> manager_api::serve(Socket& socket) {
  std::vector<char> buf(65536);
  for (;;) {
    Endpoint from;
    auto [ec, n] = co_await socket.async_receive_from(net::buffer(buf), from, use_nothrow);
    if (ec == net::error::operation_aborted || !socket.is_open()) co_return;
    if (ec) continue;
    auto reply = handle({buf.data(), n});
    if (reply.empty()) continue;
    boost::system::error_code sec;
    socket.send_to(net::buffer(reply), from, 0, sec);
    if (sec) spdlog::debug("manager: cannot answer: {}", sec.message());
  }
}

bool manager_api::listen(const inherited_fn& inherited) {
  boost::system::error_code ec;
  if (udp_at_) {
    auto at = udp_endpoint(*udp_at_, ec);
    if (!ec && !at.address().is_loopback() && !allow_remote_) {
      spdlog::error(
          "manager_address: {} is not a loopback address; the manager protocol has no "
          "authentication (anyone who reaches it can add ports and read passwords): set "
          "manager_allow_remote (--manager-allow-remote) to listen there anyway",
          address_);
      return false;
    }
    udp_.emplace(control_);
    std::optional<int> given;
    if (!ec && inherited) given = inherited(at);
    if (given) {
      udp_->assign(at.protocol(), *given, ec);
    } else {
      if (!ec) udp_->open(at.protocol(), ec);
      if (!ec) udp_->bind(at, ec);
    }
    if (ec) {
      spdlog::error("manager: cannot listen on {}: {}", address_, ec.message());
      return false;
    }
    if (!at.address().is_loopback()) {
      spdlog::warn("manager: listening on {}, not loopback: firewall it", address_);
    }
    net::co_spawn(control_, serve<udp::socket, udp::endpoint>(*udp_), log_exception);
  } else {
    using unix_dgram = net::local::datagram_protocol;
    ::unlink(address_.c_str());  // a socket file left by an earlier run (as libev does)
    unix_.emplace(control_);
    unix_->open(unix_dgram(), ec);
    if (!ec) unix_->bind(unix_dgram::endpoint(address_), ec);
    if (ec) {
      spdlog::error("manager: cannot listen on {}: {}", address_, ec.message());
      return false;
    }
    ::chmod(address_.c_str(), 0600);  // the API hands out passwords: its owner only
    net::co_spawn(control_, serve<unix_dgram::socket, unix_dgram::endpoint>(*unix_), log_exception);
  }
  spdlog::info("manager API on {}", address_);
  return true;
}

std::optional<int> manager_api::udp_handle() {
  if (!udp_ || !udp_->is_open()) return std::nullopt;
  return static_cast<int>(udp_->native_handle());
}

void manager_api::hand_over() {
  boost::system::error_code ec;
  if (udp_ && udp_->is_open()) {
    auto fd = udp_->release(ec);  // out of the event loop, the socket untouched
#ifdef _WIN32
    if (!ec) ::closesocket(fd);
#else
    if (!ec) ::close(fd);
#endif
  }
  if (unix_) unix_->close(ec);  // its file is the new process's socket now
}

void manager_api::stop() {
  boost::system::error_code ignored;
  if (udp_) udp_->close(ignored);
  if (unix_) {
    unix_->close(ignored);
    ::unlink(address_.c_str());
  }
}

}  // namespace ss
