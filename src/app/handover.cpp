#include "handover.hpp"

#ifndef _WIN32

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/text.hpp"

extern char** environ;

namespace ss {

namespace {

// The descriptor of the socket to the process that started us, in our environment.
constexpr const char* channel_variable = "SS_UPGRADE_FD";
// Messages: 'R' and the process id in decimal (the new process serves); 'S' and salt records
// (a kind byte: 0 for the replay filter, 1 for the 2022 salts; a length byte; the salt).
constexpr std::uint8_t ready_message = 'R';
constexpr std::uint8_t salts_message = 'S';
// 'C' and the totals of every counter of ours: per user (a 'u' byte, the port, the name's
// length and name, traffic_field_count totals) and per port (a 'p' byte, the port,
// failure_field_count totals); integers big-endian.
constexpr std::uint8_t counters_message = 'C';
constexpr auto report_interval = std::chrono::seconds(1);
// 'H' and a client's servers' health: per server its identity (a 16-bit length first), 1 if
// it is up, the number of checks in its window, and each check's round trip in microseconds
// (-1 for a failed one, as a 64-bit two's complement).
constexpr std::uint8_t health_message = 'H';
constexpr std::uint8_t kind_filter = 0;
constexpr std::uint8_t kind_2022 = 1;
// A message at most this long (records are split across messages).
constexpr std::size_t message_limit = 32 * 1024;
// How long a new process may take to serve (its plugins included) before it is given up.
constexpr auto successor_start_limit = std::chrono::seconds(90);

}  // namespace

struct upgrade_links::link {
  explicit link(net::io_context& ctx, int fd) : socket(ctx, fd) {}
  net::posix::stream_descriptor socket;
  std::deque<std::vector<std::uint8_t>> queue;  // messages to send, the first being sent
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(message_limit + 1);
  std::function<void(long)> ready;
  std::function<void()> closed;
  bool open = true;
  // The predecessor's totals as it last reported them, by counter (its key in the report):
  // a new report adds only what grew since.
  std::map<std::string, std::vector<std::uint64_t>> reported;
};

upgrade_links::upgrade_links(net::io_context& control, std::shared_ptr<process_state> state)
    : control_(control), state_(std::move(state)), report_timer_(control) {}

upgrade_links::~upgrade_links() {
  final_report();
  if (journaling_) {
    state_->replay.set_journal({});
    state_->salts_2022.set_journal({});
  }
  for (auto& l : links_) {
    boost::system::error_code ignored;
    l->socket.close(ignored);
  }
}

void upgrade_links::journal_on() {
  if (journaling_) return;
  journaling_ = true;
  state_->replay.set_journal([this](bytes_view salt) { recorded(kind_filter, salt); });
  state_->salts_2022.set_journal([this](bytes_view salt) { recorded(kind_2022, salt); });
}

bool upgrade_links::adopt_predecessor() {
  const char* value = std::getenv(channel_variable);
  auto fd = parse_integer(value != nullptr ? value : "");
  ::unsetenv(channel_variable);
  if (!fd || *fd < 3) return false;
  int channel = static_cast<int>(*fd);
  ::fcntl(channel, F_SETFD, FD_CLOEXEC);
  auto l = std::make_shared<link>(control_, channel);
  // What the old process recorded since it saved its state: read before we accept anything.
  boost::system::error_code ec;
  l->socket.non_blocking(true, ec);
  for (;;) {
    ssize_t n = ::recv(channel, l->buffer.data(), l->buffer.size(), MSG_DONTWAIT);
    if (n <= 0) break;
    received(l, {l->buffer.begin(), l->buffer.begin() + n});
  }
  links_.push_back(l);
  journal_on();
  start_reading(l);
  return true;
}

void upgrade_links::tell_ready() {
  std::string text = std::to_string(::getpid());
  for (auto& l : links_) {
    if (l->ready) continue;  // a successor of ours
    std::vector<std::uint8_t> m{ready_message};
    m.insert(m.end(), text.begin(), text.end());
    send(l, std::move(m));
  }
}

void upgrade_links::add_successor(int fd, std::function<void(long)> ready,
                                  std::function<void()> closed) {
  auto l = std::make_shared<link>(control_, fd);
  l->ready = std::move(ready);
  l->closed = std::move(closed);
  links_.push_back(l);
  starting_ = l;
  journal_on();
  start_reading(l);
}

void upgrade_links::start_reading(const std::shared_ptr<link>& l) {
  l->socket.async_read_some(
      net::buffer(l->buffer), [this, l](const boost::system::error_code& ec, std::size_t n) {
        if (ec == net::error::operation_aborted) return;
        if (ec || n == 0) {
          // The other process is gone (or never got going).
          l->open = false;
          std::erase(links_, l);
          if (l->closed) l->closed();
          return;
        }
        received(l, {l->buffer.begin(), l->buffer.begin() + static_cast<std::ptrdiff_t>(n)});
        start_reading(l);
      });
}

void upgrade_links::received(const std::shared_ptr<link>& from,
                             const std::vector<std::uint8_t>& message) {
  if (message.empty()) return;
  if (message[0] == ready_message) {
    auto pid = parse_integer(std::string(message.begin() + 1, message.end()));
    if (pid && from->ready) {
      auto ready = std::move(from->ready);
      from->closed = nullptr;
      successor_ = from;
      report_every_second();
      ready(static_cast<long>(*pid));
    }
    return;
  }
  if (message[0] == counters_message) return counted(*from, message);
  if (message[0] == health_message) {
    health_ = message;
    return;
  }
  if (message[0] != salts_message) return;
  for (std::size_t at = 1; at + 2 <= message.size();) {
    std::uint8_t kind = message[at];
    std::size_t len = message[at + 1];
    if (at + 2 + len > message.size()) break;
    bytes_view salt(message.data() + at + 2, len);
    if (kind == kind_filter) state_->replay.learn(salt);
    if (kind == kind_2022) state_->salts_2022.learn(salt);
    at += 2 + len;
  }
  // On to the others (a chain of upgrades: each process must know every salt).
  for (auto& l : links_) {
    if (l != from) send(l, message);
  }
}

void upgrade_links::send(const std::shared_ptr<link>& l, std::vector<std::uint8_t> message) {
  if (!l->open) return;
  l->queue.push_back(std::move(message));
  if (l->queue.size() == 1) write_next(l);  // else after the one being sent
}

void upgrade_links::write_next(const std::shared_ptr<link>& l) {
  // A SOCK_SEQPACKET socket sends a message whole or not at all.
  l->socket.async_write_some(net::buffer(l->queue.front()),
                             [l](const boost::system::error_code& ec, std::size_t) {
                               if (ec) {
                                 l->queue.clear();
                                 return;
                               }
                               l->queue.pop_front();
                               if (!l->queue.empty()) write_next(l);
                             });
}

namespace {

void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  std::uint8_t bytes[8];
  store_be64(bytes, v);
  out.insert(out.end(), bytes, bytes + 8);
}

template <class Counters>
void put_totals(std::vector<std::uint8_t>& out, const Counters& c, std::size_t fields) {
  for (std::size_t f = 0; f < fields; ++f)
    put_u64(out, c.total(f));
}

}  // namespace

std::vector<std::vector<std::uint8_t>> upgrade_links::counters_report() const {
  // Split at entries into messages of at most message_limit bytes (a server of thousands of
  // users has more).
  std::vector<std::vector<std::uint8_t>> out(1, {counters_message});
  auto room = [&out](std::size_t needed) -> std::vector<std::uint8_t>& {
    if (out.back().size() + needed > message_limit) out.push_back({counters_message});
    return out.back();
  };
  for (const auto& [key, counters] : state_->traffic.users()) {
    const auto len = std::min<std::size_t>(key.second.size(), 255);
    auto& m = room(4 + len + 8 * traffic_field_count);
    m.push_back('u');
    m.push_back(static_cast<std::uint8_t>(key.first >> 8));
    m.push_back(static_cast<std::uint8_t>(key.first & 0xff));
    m.push_back(static_cast<std::uint8_t>(len));
    m.insert(m.end(), key.second.begin(), key.second.begin() + static_cast<std::ptrdiff_t>(len));
    put_totals(m, *counters, traffic_field_count);
  }
  for (const auto& [port, counters] : state_->traffic.ports()) {
    auto& m = room(3 + 8 * failure_field_count);
    m.push_back('p');
    m.push_back(static_cast<std::uint8_t>(port >> 8));
    m.push_back(static_cast<std::uint8_t>(port & 0xff));
    put_totals(m, *counters, failure_field_count);
  }
  return out;
}

void upgrade_links::report() {
  if (!successor_) return;
  for (auto& m : counters_report())
    send(successor_, std::move(m));
}

void upgrade_links::counted(link& from, const std::vector<std::uint8_t>& message) {
  // What grew since the last report goes into our own counters (from the control thread:
  // their shared slot), so that metrics and the manager's stats show each byte once.
  auto add = [&from](std::string key, const std::uint8_t* totals, std::size_t fields,
                     auto& counters) {
    auto& last = from.reported[key];
    last.resize(fields);
    for (std::size_t f = 0; f < fields; ++f) {
      std::uint64_t now = load_be64(totals + 8 * f);
      if (now > last[f]) counters.add(f, now - last[f]);
      last[f] = std::max(last[f], now);
    }
  };
  for (std::size_t at = 1; at + 3 <= message.size();) {
    const std::uint8_t type = message[at];
    const auto port = load_be16(message.data() + at + 1);
    if (type == 'u' && at + 4 <= message.size()) {
      std::size_t len = message[at + 3];
      std::size_t end = at + 4 + len + 8 * traffic_field_count;
      if (end > message.size()) break;
      std::string name(message.begin() + static_cast<std::ptrdiff_t>(at + 4),
                       message.begin() + static_cast<std::ptrdiff_t>(at + 4 + len));
      add("u" + std::to_string(port) + ":" + name, message.data() + at + 4 + len,
          traffic_field_count, *state_->traffic.user(port, name));
      at = end;
    } else if (type == 'p') {
      std::size_t end = at + 3 + 8 * failure_field_count;
      if (end > message.size()) break;
      add("p" + std::to_string(port), message.data() + at + 3, failure_field_count,
          *state_->traffic.port(port));
      at = end;
    } else {
      break;
    }
  }
  // On to the process that took over from us, if one has (its totals include these).
  report();
}

void upgrade_links::report_every_second() {
  report();
  report_timer_.expires_after(report_interval);
  report_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) report_every_second();
  });
}

void upgrade_links::final_report() {
  report_timer_.cancel();
  if (!successor_ || !successor_->open) return;
  // The event loop has stopped: sent here and now, waiting a second at most for room (a
  // new process that reads nothing must not keep this one from exiting).
  boost::system::error_code ec;
  successor_->socket.non_blocking(false, ec);
  timeval limit{1, 0};
  ::setsockopt(successor_->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  for (const auto& m : counters_report())
    (void)::send(successor_->socket.native_handle(), m.data(), m.size(), MSG_NOSIGNAL);
}

void upgrade_links::send_health(const upstream_list& servers) {
  if (!starting_ || servers.size() < 2) return;  // one server: nothing is checked
  std::vector<std::uint8_t> m{health_message};
  for (const auto& u : servers) {
    const auto id = u->identity();
    const auto checks = u->health->checks();
    std::uint8_t len[2];
    store_be16(len, static_cast<std::uint16_t>(std::min<std::size_t>(id.size(), 65535)));
    m.insert(m.end(), len, len + 2);
    m.insert(m.end(), id.begin(), id.begin() + load_be16(len));
    m.push_back(u->health->up() ? 1 : 0);
    m.push_back(static_cast<std::uint8_t>(checks.size()));
    for (const auto& c : checks)
      put_u64(m, static_cast<std::uint64_t>(c ? c->count() : -1));
  }
  if (m.size() <= message_limit) send(starting_, std::move(m));
}

void upgrade_links::apply_health(const upstream_list& servers) {
  std::size_t applied = 0;
  for (std::size_t at = 1; at + 4 <= health_.size();) {
    const std::size_t len = load_be16(health_.data() + at);
    if (at + 4 + len > health_.size()) break;
    std::string id(health_.begin() + static_cast<std::ptrdiff_t>(at + 2),
                   health_.begin() + static_cast<std::ptrdiff_t>(at + 2 + len));
    const bool up = health_[at + 2 + len] != 0;
    const std::size_t n = health_[at + 3 + len];
    const std::uint8_t* checks = health_.data() + at + 4 + len;
    at += 4 + len + 8 * n;
    if (at > health_.size()) break;
    for (const auto& u : servers) {
      if (u->identity() != id) continue;
      for (std::size_t i = 0; i < n; ++i) {
        auto us = static_cast<std::int64_t>(load_be64(checks + 8 * i));
        u->health->record_check(us < 0 ? std::nullopt
                                       : std::optional(std::chrono::microseconds(us)));
      }
      if (!up && u->health->up()) u->health->record_connect_failure();
      ++applied;
    }
  }
  health_.clear();
  if (applied > 0) spdlog::info("upgrade: the health of {} server(s) carried over", applied);
}

void upgrade_links::recorded(std::uint8_t kind, bytes_view salt) {
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = pending_.empty();
    pending_.push_back(kind);
    pending_.push_back(static_cast<std::uint8_t>(salt.size()));
    pending_.insert(pending_.end(), salt.begin(), salt.end());
  }
  if (first) net::post(control_, [this] { flush(); });
}

void upgrade_links::flush() {
  std::vector<std::uint8_t> records;
  {
    std::lock_guard lock(mutex_);
    records.swap(pending_);
  }
  // Split at record boundaries into messages of at most message_limit bytes.
  std::size_t at = 0;
  while (at < records.size()) {
    std::vector<std::uint8_t> m{salts_message};
    while (at < records.size() && m.size() + 2 + records[at + 1] <= message_limit) {
      std::size_t len = 2 + records[at + 1];
      m.insert(m.end(), records.begin() + static_cast<std::ptrdiff_t>(at),
               records.begin() + static_cast<std::ptrdiff_t>(at + len));
      at += len;
    }
    for (auto& l : links_)
      send(l, m);
  }
}

// --- upgrader --------------------------------------------------------------------------------

upgrader::upgrader(net::io_context& control, upgrade_links& links, std::vector<std::string> argv,
                   std::string pid_file, hooks h)
    : control_(control),
      links_(links),
      argv_(std::move(argv)),
      pid_file_(std::move(pid_file)),
      hooks_(std::move(h)),
      signal_(control, SIGUSR2),
      deadline_(control),
      watch_(control) {}

void upgrader::start() {
  wait();
}

void upgrader::stop() {
  done_ = true;
  boost::system::error_code ignored;
  signal_.cancel(ignored);
}

void upgrader::wait() {
  signal_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || done_) return;
    if (running_) {
      spdlog::warn("upgrade: one is under way already (process {})", child_);
    } else {
      begin();
    }
    wait();
  });
}

namespace {

// Our environment for the new process, without what the hand-over sets itself.
std::vector<std::string> environment_for_successor() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("LISTEN_") || v.starts_with(channel_variable)) continue;
    env.emplace_back(v);
  }
  return env;
}

}  // namespace

void upgrader::begin() {
  const std::string& program = platform::executable_path();
  running_ = true;
  if (program.empty()) return failed("this system does not say where our program is");
  if (auto obstacle = hooks_.obstacle()) return failed(*obstacle);
  spdlog::info("upgrade: starting {} to take over", program);
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return failed(std::string("socketpair: ") + std::strerror(errno));
  }
  // Our end first: the salts recorded from here on reach the new process.
  links_.add_successor(
      pair[0],
      [this](long pid) {
        deadline_.cancel();
        running_ = false;
        done_ = true;
        signal_.cancel();
        spdlog::info("upgrade: process {} serves; this one ({}) stops accepting and drains", pid,
                     ::getpid());
        rewrite_pid_file(pid);
        hooks_.handed_over(pid);
      },
      [this] { failed("the new process ended before it served (its log says why)"); });
  if (auto servers = hooks_.upstreams()) links_.send_health(*servers);
  auto env = environment_for_successor();
  for (auto& e : hooks_.save_state())
    env.push_back(std::move(e));
  auto sockets = hooks_.sockets();
  env.push_back(std::string(channel_variable) + "=" + std::to_string(3 + sockets.size()));
  std::vector<std::string> names(sockets.size(), "upgrade");
  auto started = platform::start_successor(program, argv_, std::move(env), sockets, names, pair[1]);
  ::close(pair[1]);
  if (!started) return failed(started.error().message);
  child_ = *started;
  auto watched = watch_.start(*started, [pid = *started](int status) {
    if (status != 0) spdlog::info("upgrade: process {} {}", pid, platform::describe_exit(status));
  });
  if (!watched)
    spdlog::debug("upgrade: cannot watch process {}: {}", child_, watched.error().message);
  deadline_.expires_after(successor_start_limit);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    ::kill(static_cast<pid_t>(child_), SIGKILL);
    failed("the new process did not serve within " + std::to_string(successor_start_limit.count()) +
           " s; it was killed");
  });
}

void upgrader::failed(const std::string& why) {
  if (!running_) return;  // told already (a killed process also closes its socket)
  running_ = false;
  child_ = -1;
  deadline_.cancel();
  spdlog::error("upgrade failed: {}; this process goes on serving", why);
  rewrite_pid_file(::getpid());
}

void upgrader::rewrite_pid_file(long pid) {
  if (pid_file_.empty()) return;
  // Replaced, not rewritten in place: `--upgrade` sees a new file, then reads who serves.
  std::string temporary = pid_file_ + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << pid << '\n';
    if (!out.flush()) {
      spdlog::warn("upgrade: cannot write {}: {}", temporary, std::strerror(errno));
      return;
    }
  }
  if (::rename(temporary.c_str(), pid_file_.c_str()) != 0) {
    spdlog::warn("upgrade: cannot replace {}: {}", pid_file_, std::strerror(errno));
  }
}

// --- --upgrade -------------------------------------------------------------------------------

namespace {

// The process id in `path` with the file's inode, or none.
std::optional<std::pair<long, ino_t>> read_pid_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  auto pid = parse_integer(text);
  if (!pid || *pid <= 0) return std::nullopt;
  return std::pair{static_cast<long>(*pid), st.st_ino};
}

}  // namespace

int request_upgrade(const char* name, const std::string& pid_file) {
  auto before = read_pid_file(pid_file);
  if (!before) {
    std::fprintf(stderr, "%s: --upgrade: no process id in \"%s\" (-f of the running instance)\n",
                 name, pid_file.c_str());
    return 2;
  }
  const long old = before->first;
  if (::kill(static_cast<pid_t>(old), SIGUSR2) != 0) {
    std::fprintf(stderr, "%s: --upgrade: cannot signal process %ld: %s\n", name, old,
                 std::strerror(errno));
    return 2;
  }
  // The running instance replaces the file once the attempt is over, either way.
  const auto limit = std::chrono::steady_clock::now() + successor_start_limit + 10s;
  while (std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(50ms);
    auto now = read_pid_file(pid_file);
    if (!now || now->second == before->second) {
      if (::kill(static_cast<pid_t>(old), 0) != 0 && errno == ESRCH) break;
      continue;
    }
    if (now->first != old) {
      std::printf("%s: upgraded: process %ld serves; process %ld drains its connections\n", name,
                  now->first, old);
      return 0;
    }
    std::fprintf(stderr, "%s: upgrade failed: process %ld goes on serving (its log says why)\n",
                 name, old);
    return 1;
  }
  std::fprintf(stderr, "%s: --upgrade: process %ld did not report how the upgrade went\n", name,
               old);
  return 1;
}

}  // namespace ss

#endif  // not _WIN32
