#include "shadowsocks/ops/metrics.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdio>

#include "shadowsocks/local/balancer.hpp"
#include "version.hpp"

namespace ss {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// How long a scraper may take to send its request, or stay idle between requests.
constexpr auto scrape_idle_limit = std::chrono::seconds(30);

// A label value with `\`, `"` and newlines escaped (the text format's rules).
std::string escaped(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The text of one metric family: its HELP and TYPE lines, then its samples.
class family {
 public:
  family(std::string& out, const char* name, const char* type, const char* help)
      : out_(out), name_(name) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample; `labels` is `key="value",...` (already escaped) or empty.
  void sample(const std::string& labels, double value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    char number[64];
    std::snprintf(number, sizeof number, " %.17g\n", value);
    out_ += number;
  }
  void sample(const std::string& labels, std::uint64_t value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  const char* name_;
};

std::string port_user(std::uint16_t port, const std::string& user) {
  return "port=\"" + std::to_string(port) + "\",user=\"" + escaped(user) + "\"";
}

void render_traffic(std::string& out, const process_state& state) {
  auto users = state.traffic.users();
  family conns(out, "shadowsocks_tcp_connections_total", "counter",
               "TCP connections relayed (request read, target connected), by server port and "
               "user.");
  for (const auto& [key, c] : users)
    conns.sample(port_user(key.first, key.second), c->total(tcp_connections));
  // The counters with an up and a down direction.
  struct directional {
    const char* name;
    const char* help;
    traffic_field up, down;
  };
  static constexpr directional families[] = {
      {"shadowsocks_tcp_bytes_total",
       "TCP payload bytes relayed, by server port, user and direction (up: client to target).",
       tcp_bytes_up, tcp_bytes_down},
      {"shadowsocks_udp_bytes_total",
       "UDP payload bytes relayed, by server port, user and direction.", udp_bytes_up,
       udp_bytes_down},
      {"shadowsocks_udp_packets_total",
       "UDP datagrams relayed, by server port, user and direction.", udp_packets_up,
       udp_packets_down},
  };
  for (const auto& d : families) {
    family f(out, d.name, "counter", d.help);
    for (const auto& [key, c] : users) {
      auto labels = port_user(key.first, key.second);
      f.sample(labels + ",direction=\"up\"", c->total(d.up));
      f.sample(labels + ",direction=\"down\"", c->total(d.down));
    }
  }
}

void render_refusals(std::string& out, const process_state& state) {
  struct reason {
    failure_field field;
    const char* proto;
    const char* name;
  };
  static constexpr reason reasons[] = {
      {tcp_bad_data, "tcp", "bad_data"},       {tcp_replay, "tcp", "replay"},
      {tcp_unknown_key, "tcp", "unknown_key"}, {tcp_timeout, "tcp", "timeout"},
      {udp_bad_data, "udp", "bad_data"},       {udp_replay, "udp", "replay"},
      {udp_unknown_key, "udp", "unknown_key"},
  };
  family refused(out, "shadowsocks_refused_total", "counter",
                 "Requests refused before a user was known (probes, replays, unknown keys, "
                 "no request in time), by server port, protocol and reason.");
  for (const auto& [port, c] : state.traffic.ports()) {
    for (const auto& r : reasons) {
      refused.sample("port=\"" + std::to_string(port) + "\",proto=\"" + r.proto + "\",reason=\"" +
                         r.name + "\"",
                     c->total(r.field));
    }
  }
}

awaitable<void> serve_scrapes(tcp::socket socket, std::shared_ptr<process_state> state,
                              double started, metrics_server::render_fn more) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(scrape_idle_limit);
    http::request_parser<http::string_body> parser;  // a body (of a POST) is read, not used
    parser.header_limit(16 * 1024);
    parser.body_limit(64 * 1024);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec) co_return;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, "shadowsocks-cpp");
    std::string_view target(req.target().data(), req.target().size());
    target = target.substr(0, target.find('?'));
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
    } else if (target != "/metrics") {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "the metrics are at /metrics\n";
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = render_metrics(*state, started);
      if (more) res.body() += more();
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    stream.expires_after(scrape_idle_limit);
    auto [wec, m] = co_await http::async_write(stream, res, use_nothrow);
    if (wec || !res.keep_alive()) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

awaitable<void> accept_scrapes(tcp::acceptor& acceptor, std::shared_ptr<process_state> state,
                               double started, metrics_server::render_fn more) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      co_await sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    net::co_spawn(acceptor.get_executor(), serve_scrapes(std::move(socket), state, started, more),
                  log_exception);
  }
}

double unix_seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string render_metrics(const process_state& state, double started) {
  std::string out;
  family(out, "shadowsocks_build_info", "gauge", "The version of shadowsocks-cpp (always 1).")
      .sample(std::string("version=\"") + version + "\"", std::uint64_t{1});
  family(out, "process_start_time_seconds", "gauge",
         "Start time of the process since the Unix epoch, in seconds.")
      .sample("", started);
  family(out, "shadowsocks_open_connections", "gauge", "TCP connections open now.")
      .sample("", static_cast<double>(state.active.value()));
  family(out, "shadowsocks_udp_associations", "gauge",
         "UDP associations (2022: sessions) kept now.")
      .sample("", static_cast<double>(state.udp_associations.load(std::memory_order_relaxed)));
  family(out, "shadowsocks_replay_filter_salts", "gauge",
         "Salts in the current generation of the 2017 replay filter (it starts over at its "
         "capacity).")
      .sample("", static_cast<std::uint64_t>(state.replay.size()));
  family(out, "shadowsocks_replay_filter_capacity", "gauge",
         "Salts per generation of the 2017 replay filter.")
      .sample("", static_cast<std::uint64_t>(state.replay.capacity()));
  family(out, "shadowsocks_recent_salts_2022", "gauge",
         "Request salts of the last 60 s kept for the 2022 methods.")
      .sample("", static_cast<std::uint64_t>(state.salts_2022.size()));
  render_traffic(out, state);
  render_refusals(out, state);
  return out;
}

std::string render_server_metrics(const upstream_list& servers) {
  std::string out;
  auto labels = [](const upstream& u) {
    auto address = u.address();
    return "server=\"" + escaped(u.cfg.name.empty() ? address : u.cfg.name) + "\",address=\"" +
           escaped(address) + "\"";
  };
  auto seconds = [](std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; };
  family up(out, "shadowsocks_server_up", "gauge",
            "1 while a server of the client is up, 0 from a failed check or connect until a "
            "check succeeds.");
  for (const auto& u : servers)
    up.sample(labels(*u), std::uint64_t{u->health->up() ? 1u : 0u});
  family score(out, "shadowsocks_server_score_seconds", "gauge",
               "A server's score: the median round trip of its last checks, weighed by their "
               "failures (lower is better; none before a check succeeded).");
  for (const auto& u : servers) {
    if (auto s = u->health->score()) score.sample(labels(*u), seconds(*s));
  }
  family rtt(out, "shadowsocks_server_check_rtt_seconds", "gauge",
             "The round trip of a server's last successful check.");
  for (const auto& u : servers) {
    if (auto r = u->health->last_rtt()) rtt.sample(labels(*u), seconds(*r));
  }
  struct counter {
    const char* name;
    const char* help;
    std::atomic<std::uint64_t> server_health::*field;
  };
  static constexpr counter counters[] = {
      {"shadowsocks_server_connections_total", "TCP connections a server was chosen for.",
       &server_health::chosen_tcp},
      {"shadowsocks_server_udp_associations_total", "UDP associations a server was chosen for.",
       &server_health::chosen_udp},
      {"shadowsocks_server_connect_failures_total",
       "Connections that could not connect to a server (and were tried on another).",
       &server_health::connect_failures},
  };
  for (const auto& c : counters) {
    family f(out, c.name, "counter", c.help);
    for (const auto& u : servers)
      f.sample(labels(*u), (*u->health.*c.field).load(std::memory_order_relaxed));
  }
  family checks(out, "shadowsocks_server_checks_total", "counter",
                "Health checks of a server, by result.");
  for (const auto& u : servers) {
    checks.sample(labels(*u) + ",result=\"ok\"", u->health->checks_ok.load());
    checks.sample(labels(*u) + ",result=\"failed\"", u->health->checks_failed.load());
  }
  return out;
}

metrics_server::metrics_server(net::io_context& control, const tcp::endpoint& at,
                               std::shared_ptr<process_state> state, render_fn more,
                               std::optional<int> given)
    : acceptor_(control) {
  if (given) {
    acceptor_.assign(at.protocol(), static_cast<tcp::acceptor::native_handle_type>(*given));
  } else {
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    if (at.address().is_v6()) acceptor_.set_option(net::ip::v6_only(true));
    acceptor_.bind(at);
    acceptor_.listen();
  }
  net::co_spawn(control,
                accept_scrapes(acceptor_, std::move(state), unix_seconds_now(), std::move(more)),
                log_exception);
}

void metrics_server::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void metrics_server::hand_over() {
  boost::system::error_code ec;
  auto fd = acceptor_.release(ec);  // out of the event loop, the socket untouched
#ifdef _WIN32
  if (!ec) ::closesocket(fd);
#else
  if (!ec) ::close(fd);
#endif
}

}  // namespace ss
