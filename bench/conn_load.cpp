// Many-connection load generator and echo server for bench/run.py --only scale: thousands of
// connections held open through a pair, each moving a small request once a second.
//
//   conn_load echo        binds 127.0.0.1 on a free port, prints the port, and echoes what
//                         every connection sends until stdin closes
//   conn_load client PORT CONNECTIONS SECONDS SIZE
//                         opens CONNECTIONS connections to 127.0.0.1:PORT (at most 256
//                         connecting at a time) and makes one round trip on each (connect_s is
//                         the time both took), then for SECONDS sends SIZE bytes on each once
//                         a second (the connections' turns spread evenly over the second) and
//                         waits for them to come back; prints, as JSON, the connections opened,
//                         the errors (a connection refused, reset or closed, an echo that did
//                         not match), the round trips, late sends (a request still unanswered
//                         when its next turn came) and the round trips' p50, p90, p99 and
//                         maximum in milliseconds
//
// One thread, level-triggered epoll. No dependency beyond libc.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "load_support.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

using load::die;
using load::loopback;

void raise_file_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int echo() {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(lfd, 4096) != 0 || ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    die("listen");
  }
  std::printf("%u\n", ntohs(a.sin_port));
  std::fflush(stdout);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {.fd = lfd}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev = {EPOLLIN, {.fd = 0}};
  ::epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);  // stdin: closed means stop
  std::vector<epoll_event> events(256);
  char buf[65536];
  for (;;) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == 0) return 0;
      if (fd == lfd) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          epoll_event cev{EPOLLIN, {.fd = c}};
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0 || ::send(fd, buf, static_cast<std::size_t>(got), MSG_NOSIGNAL) != got) {
        ::close(fd);  // the requests are small: a short send does not happen here
      }
    }
  }
}

struct connection {
  int fd = -1;
  bool connected = false;
  bool pending = false;  // a request is out, its echo not all back
  std::size_t received = 0;
  clock_type::time_point sent_at;
};

struct client_result {
  std::size_t opened = 0, errors = 0, late = 0;
  std::size_t outstanding = 0;  // requests out, their echo not all back
  std::vector<double> rtt_ms;
};

// Opens `count` connections, at most 256 connecting at a time; false if one failed.
bool open_all(int ep, std::vector<connection>& conns, unsigned port, client_result& r) {
  sockaddr_in to = loopback(port);
  std::size_t next = 0, connecting = 0;
  std::vector<epoll_event> events(256);
  while (r.opened < conns.size()) {
    while (next < conns.size() && connecting < 256) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) die("socket");
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 && errno != EINPROGRESS) {
        die("connect");
      }
      conns[next].fd = fd;
      epoll_event ev{EPOLLOUT, {.u64 = next}};
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      ++next;
      ++connecting;
    }
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10000);
    if (n <= 0) return false;
    for (int i = 0; i < n; ++i) {
      connection& c = conns[events[i].data.u64];
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return false;
      c.connected = true;
      epoll_event ev{EPOLLIN, {.u64 = events[i].data.u64}};
      ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
      --connecting;
      ++r.opened;
    }
  }
  return true;
}

// Reads the echo on `c`; a whole one records the round trip.
void on_readable(connection& c, std::size_t size, client_result& r) {
  char buf[65536];
  ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
  if (got <= 0 || !c.pending) {
    ++r.errors;  // closed, reset, or bytes nobody asked for
    ::close(c.fd);
    c.connected = false;
    if (c.pending) --r.outstanding;
    return;
  }
  c.received += static_cast<std::size_t>(got);
  if (c.received < size) return;
  c.pending = false;
  --r.outstanding;
  if (c.received > size) ++r.errors;
  std::chrono::duration<double, std::milli> rtt = clock_type::now() - c.sent_at;
  r.rtt_ms.push_back(rtt.count());
}

// Sends `payload` on every connection and waits (at most 30 s) until every echo is back.
bool warm_up(int ep, std::vector<connection>& conns, const std::string& payload,
             std::vector<epoll_event>& events, client_result& r) {
  for (auto& c : conns) {
    if (::send(c.fd, payload.data(), payload.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(payload.size())) {
      return false;
    }
    c.pending = true;
    c.received = 0;
    c.sent_at = clock_type::now();
    ++r.outstanding;
  }
  auto end = clock_type::now() + std::chrono::seconds(30);
  while (r.outstanding > 0 && clock_type::now() < end) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
    for (int i = 0; i < n; ++i)
      on_readable(conns[events[i].data.u64], payload.size(), r);
  }
  return r.outstanding == 0 && r.errors == 0;
}

void run_client(unsigned port, std::size_t count, double seconds, std::size_t size) {
  raise_file_limit();
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<connection> conns(count);
  client_result r;
  auto t0 = clock_type::now();
  bool ok = open_all(ep, conns, port, r);
  std::string payload(size, 'r');
  std::vector<epoll_event> events(1024);
  // One round trip on every connection before the clock starts: a pair connects onward only
  // when a connection comes, so the first round also measures how fast it catches up with
  // the burst of connections (reported as connect_s).
  if (ok) ok = warm_up(ep, conns, payload, events, r);
  double connect_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  r.rtt_ms.clear();
  if (ok) {
    // Connection i's turns: start + k s + i / count s.
    auto start = clock_type::now();
    auto turn = [&](std::size_t round, std::size_t i) {
      return start +
             std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(
                 static_cast<double>(round) + static_cast<double>(i) / static_cast<double>(count)));
    };
    auto end = start + std::chrono::duration_cast<clock_type::duration>(
                           std::chrono::duration<double>(seconds));
    std::size_t round = 0, next = 0;
    for (;;) {
      auto now = clock_type::now();
      while (turn(round, next) <= now && turn(round, next) < end) {
        connection& c = conns[next];
        if (!c.connected) {
          // gone: counted when it went
        } else if (c.pending) {
          ++r.late;
        } else if (::send(c.fd, payload.data(), size, MSG_NOSIGNAL) == static_cast<ssize_t>(size)) {
          c.pending = true;
          c.received = 0;
          c.sent_at = now;
          ++r.outstanding;
        } else {
          ++r.errors;
        }
        if (++next == count) next = 0, ++round;
      }
      bool sending = turn(round, next) < end;
      if (!sending && (r.outstanding == 0 || now > end + std::chrono::seconds(5))) break;
      auto wait = sending ? turn(round, next) - now : std::chrono::milliseconds(100);
      int ms = static_cast<int>(
          std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
      int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), ms);
      for (int i = 0; i < n; ++i)
        on_readable(conns[events[i].data.u64], size, r);
    }
    r.errors += r.outstanding;  // never answered
  }
  std::sort(r.rtt_ms.begin(), r.rtt_ms.end());
  auto pct = [&](double p) {
    if (r.rtt_ms.empty()) return 0.0;
    auto k = static_cast<std::size_t>(p * static_cast<double>(r.rtt_ms.size() - 1));
    return r.rtt_ms[k];
  };
  std::printf(
      "{\"connections\": %zu, \"connect_s\": %.3f, \"errors\": %zu, \"round_trips\": %zu, "
      "\"late\": %zu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
      r.opened, connect_s, r.errors + (ok ? 0 : count - r.opened), r.rtt_ms.size(), r.late,
      pct(0.5), pct(0.9), pct(0.99), r.rtt_ms.empty() ? 0.0 : r.rtt_ms.back());
  for (auto& c : conns)
    if (c.fd >= 0) ::close(c.fd);
}

}  // namespace

int main(int argc, char** argv) {
  load::program = "conn_load";
  raise_file_limit();
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo" && argc == 2) return echo();
  if (mode == "client" && argc == 6) {
    run_client(static_cast<unsigned>(std::atoi(argv[2])), std::strtoul(argv[3], nullptr, 10),
               std::atof(argv[4]), std::strtoul(argv[5], nullptr, 10));
    return 0;
  }
  std::fprintf(stderr,
               "usage: conn_load echo\n"
               "       conn_load client PORT CONNECTIONS SECONDS SIZE\n");
  return 2;
}
