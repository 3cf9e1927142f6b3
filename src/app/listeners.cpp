#include "listeners.hpp"

#include <spdlog/spdlog.h>
#ifndef _WIN32
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <latch>
#include <optional>

#include "shadowsocks/ops/plugin.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/runtime/reactor_shortcuts.hpp"

namespace ss {

namespace {

// Every address a listen host stands for ("localhost" may be two).
std::vector<tcp::endpoint> listen_endpoints(const std::string& host, std::uint16_t port) {
  boost::system::error_code ec;
  auto literal = net::ip::make_address(host, ec);
  if (!ec) return {tcp::endpoint(literal, port)};
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  std::vector<tcp::endpoint> out;
  for (const auto& r : results)
    out.push_back(r.endpoint());
  return out;
}

// The sockets handed to the process at start (socket activation), each taken by the listener
// of its address instead of a bind. Used on the control thread only.
std::vector<platform::inherited_socket>& inherited() {
  static std::vector<platform::inherited_socket> sockets = platform::take_inherited_sockets();
  return sockets;
}

// Every inherited socket of `ep` (an upgrade hands over one per worker of the old process).
// Port 0 (any port) takes those of the first port found on that address: the old process of
// an upgrade was given port 0 too, and its sockets have the port the kernel picked.
std::vector<platform::socket_handle> take_inherited(bool stream, udp::endpoint ep) {
  std::vector<platform::socket_handle> out;
  auto& all = inherited();
  if (ep.port() == 0) {
    for (const auto& given : all) {
      if (given.stream == stream && given.local.address() == ep.address()) {
        ep.port(given.local.port());
        break;
      }
    }
  }
  for (auto it = all.begin(); it != all.end();) {
    if (it->stream == stream && it->local == ep) {
      out.push_back(it->fd);
      it = all.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

// An IP_TRANSPARENT option refused: TPROXY needs CAP_NET_ADMIN.
struct transparent_refused : boost::system::system_error {
  using system_error::system_error;
};

// ss-redir: a socket that takes connections or datagrams for addresses that are not the
// host's (TPROXY) and, for UDP, reports each datagram's original destination.
void make_transparent(platform::socket_handle fd, bool v6, bool udp) {
  if (auto refused = platform::make_transparent(fd, v6, udp)) {
    throw transparent_refused(
        boost::system::error_code(refused.value(), boost::system::system_category()));
  }
}

// How the listeners of one address are made.
struct listen_kind {
  bool mptcp = false;            // Multipath TCP clients too
  bool transparent_tcp = false;  // ss-redir with tcp_tproxy
  bool transparent_udp = false;  // ss-redir's UDP (always TPROXY)
};

// One acceptor per worker on `ep`, all sharing the port through SO_REUSEPORT (the kernel
// spreads connections across them); returns the port actually bound.
std::uint16_t open_listeners(std::vector<std::unique_ptr<worker>>& workers, listener_set& into,
                             tcp::endpoint ep, const config& c, const listen_kind& kind) {
#ifndef _WIN32
  // Handed over, already listening (systemd's socket, or the sockets of the process we
  // upgrade): each is accepted on, every worker accepting on at least one (a copy where
  // there are fewer sockets than workers).
  if (auto given = take_inherited(true, udp::endpoint(ep.address(), ep.port())); !given.empty()) {
    for (std::size_t i = 0; i < std::max(workers.size(), given.size()); ++i) {
      int fd = i < given.size() ? given[i] : ::fcntl(given.front(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) throw boost::system::system_error(errno, boost::system::system_category());
      auto& on = workers[i % workers.size()];
      auto acc = std::make_shared<tcp::acceptor>(on->ioc);
      acc->assign(ep.protocol(), fd);
      into.acceptors.push_back({on.get(), std::move(acc)});
    }
    return into.acceptors.back().socket->local_endpoint().port();  // port 0: the one given
  }
#endif
  bool share = workers.size() > 1 || c.reuse_port;
  if (share && !c.reuse_port && ep.port() != 0) {
    // SO_REUSEPORT would let us join another process (of the same user) already listening on
    // this port and silently split its traffic. Unless the user asked for that (reuse_port),
    // an exclusive bind first makes "port in use" an error, as it is without workers.
    tcp::acceptor probe(workers.front()->ioc);
    probe.open(ep.protocol());
    probe.set_option(tcp::acceptor::reuse_address(true));  // TIME_WAIT is no conflict
    if (ep.address().is_v6()) probe.set_option(net::ip::v6_only(true));
    probe.bind(ep);
  }
  for (auto& w : workers) {
    auto acc = std::make_shared<tcp::acceptor>(w->ioc);
    boost::system::error_code ec;
    open_tcp(*acc, ep.protocol(), kind.mptcp, ec);
    if (ec) throw boost::system::system_error(ec);
#ifndef _WIN32
    acc->set_option(tcp::acceptor::reuse_address(true));
    if (kind.transparent_tcp) make_transparent(acc->native_handle(), ep.address().is_v6(), false);
    if (share) {
      int one = 1;
      ::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    }
#else
    // Windows' SO_REUSEADDR would let another socket take the port while we listen; this
    // forbids it (there is no TIME_WAIT conflict to avoid there). One worker: no sharing.
    acc->set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_EXCLUSIVEADDRUSE>(true));
#endif
    // "::" and "0.0.0.0" may both be listed; each family gets its own socket.
    if (ep.address().is_v6()) acc->set_option(net::ip::v6_only(true));
    acc->bind(ep);
#ifndef _WIN32
    if (c.fast_open) {
      int queue = 256;
      ::setsockopt(acc->native_handle(), IPPROTO_TCP, TCP_FASTOPEN, &queue, sizeof queue);
    }
#endif
    acc->listen(net::socket_base::max_listen_connections);
    if (ep.port() == 0) ep.port(acc->local_endpoint().port());
    into.acceptors.push_back({w.get(), std::move(acc)});
  }
  return ep.port();
}

// Binds the TCP listeners (one per worker) and/or the UDP socket on `ep` into `into`; returns
// the endpoint with the port actually bound. With port 0 the kernel picks the TCP port, and
// the UDP socket must then get the same number: if that UDP port is taken, another port is
// tried.
tcp::endpoint bind_endpoint(std::vector<std::unique_ptr<worker>>& workers, listener_set& into,
                            tcp::endpoint ep, const config& c, bool tcp, bool udp_listener,
                            const listen_kind& kind) {
  const bool any_port = ep.port() == 0;
  for (int attempt = 1;; ++attempt) {
    tcp::endpoint bound = ep;
    auto before = into.acceptors.size();
    if (tcp) bound.port(open_listeners(workers, into, ep, c, kind));
    if (!udp_listener) return bound;
    auto sock = std::make_shared<udp::socket>(workers.front()->ioc);
    udp::endpoint uep(bound.address(), bound.port());
    if (auto given = take_inherited(false, uep); !given.empty()) {
      sock->assign(uep.protocol(), given.front());
      bound.port(sock->local_endpoint().port());  // port 0: the one given
      into.datagram.push_back(std::move(sock));
#ifndef _WIN32
      for (std::size_t i = 1; i < given.size(); ++i)
        ::close(given[i]);  // one UDP socket per address is ever handed over
#endif
      return bound;
    }
    sock->open(uep.protocol());
    if (uep.address().is_v6()) sock->set_option(net::ip::v6_only(true));
    if (kind.transparent_udp) make_transparent(sock->native_handle(), uep.address().is_v6(), true);
    boost::system::error_code ec;
    sock->bind(uep, ec);
    if (ec == net::error::address_in_use && any_port && tcp && attempt < 16) {
      into.acceptors.resize(before);  // this port's listeners; the next attempt gets a new port
      continue;
    }
    if (ec) throw boost::system::system_error(ec);
    bound.port(sock->local_endpoint().port());
    into.datagram.push_back(std::move(sock));
    return bound;
  }
}

// Records `bound` in `l`: its text for the log, and the first port.
void note_bound(listener_set& l, const tcp::endpoint& bound, std::string text) {
  if (l.addresses.empty()) l.port = bound.port();
  l.addresses.push_back(std::move(text));
}

// Accepts a listener's connections on its worker: `accept4` makes each socket non-blocking
// (no ioctl per socket) and brings the peer's address (no getpeername); when the queue is
// empty (EAGAIN) the loop waits without re-arming the listener (reactor_shortcuts.hpp). On
// Windows, Asio's overlapped accept on the completion port, one at a time.
class accept_loop : public std::enable_shared_from_this<accept_loop> {
 public:
  accept_loop(std::shared_ptr<tcp::acceptor> acceptor, std::shared_ptr<const context_slot> slot,
              tcp_handler handler)
      : acceptor_(std::move(acceptor)),
        slot_(std::move(slot)),
        handler_(handler),
        protocol_(acceptor_->local_endpoint().protocol()),
        pause_(acceptor_->get_executor()) {
#ifndef _WIN32
    boost::system::error_code ignored;
    acceptor_->non_blocking(true, ignored);  // accept4 must say EAGAIN, not wait
#endif
  }

#ifndef _WIN32
  // On the acceptor's executor.
  void run() {
    // A burst is taken in turns of 64, so that the worker's connections are served meanwhile.
    for (int turn = 0; turn < 64; ++turn) {
      tcp::endpoint peer;
      socklen_t len = static_cast<socklen_t>(peer.capacity());
      int fd =
          ::accept4(acceptor_->native_handle(), peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return ready_.wait(*acceptor_, shared_from_this());
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (!acceptor_->is_open()) return;
        return pause_and_run(std::strerror(errno));
      }
      peer.resize(len);
      tcp::socket socket(acceptor_->get_executor());
      boost::system::error_code ec;
      adopt_socket(socket, protocol_, fd, ec);
      if (ec) {
        ::close(fd);
        continue;
      }
      serve(std::move(socket), peer);
    }
    net::post(acceptor_->get_executor(), [self = shared_from_this()] { self->run(); });
  }
#else
  void run() {
    acceptor_->async_accept(
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted || !self->acceptor_->is_open()) return;
          if (ec == net::error::connection_aborted) return self->run();
          if (ec) return self->pause_and_run(ec.message());
          boost::system::error_code pec;
          auto peer = socket.remote_endpoint(pec);
          if (!pec) self->serve(std::move(socket), peer);
          self->run();
        });
  }
#endif

 private:
  // Out of file descriptors and the like: say so, breathe, go on serving.
  void pause_and_run(const std::string& why) {
    spdlog::warn("accept failed: {}", why);
    pause_.expires_after(100ms);
    pause_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->run();
    });
  }

  static void readable(void* owner, const boost::system::error_code& ec) {
    auto* self = static_cast<accept_loop*>(owner);
    if (!ec) self->run();  // operation_aborted: the listener was closed
  }

  void serve(tcp::socket socket, const tcp::endpoint& peer) {
    // The configuration in force now (a reload replaces it for new connections only).
    auto ctx = slot_->load();
    if (static_cast<std::size_t>(ctx->state->active.value()) >= ctx->cfg.max_connections) {
      // Over the cap: this one is closed at once; established connections are not touched.
      std::uint64_t suppressed = 0;
      if (ctx->state->invalid_requests.allow(suppressed)) {
        spdlog::warn("connection limit ({}) reached: closing a new connection from {}",
                     ctx->cfg.max_connections, to_string(peer));
      }
      return;  // closed with `socket`
    }
    net::co_spawn(acceptor_->get_executor(), handler_(std::move(socket), peer, std::move(ctx)),
                  log_exception);
  }

  std::shared_ptr<tcp::acceptor> acceptor_;
  std::shared_ptr<const context_slot> slot_;
  tcp_handler handler_;
  tcp protocol_;
  net::steady_timer pause_;
  read_readiness ready_{&accept_loop::readable, this};
};

// The UDP handler with the slot kept alive while it runs.
awaitable<void> udp_loop(udp_handler handler, std::shared_ptr<udp::socket> sock,
                         std::shared_ptr<const context_slot> slot) {
  co_await handler(std::move(sock), *slot);
}

}  // namespace

std::optional<platform::socket_handle> take_inherited_socket(bool stream, const udp::endpoint& ep) {
  auto given = take_inherited(stream, ep);
  if (given.empty()) return std::nullopt;
#ifndef _WIN32
  for (std::size_t i = 1; i < given.size(); ++i)
    ::close(given[i]);
#endif
  return given.front();
}

void close_unused_inherited_sockets() {
  for (const auto& given : inherited()) {
    spdlog::warn("socket activation: {} ({}) is no listen address of the configuration; closed",
                 to_string(tcp::endpoint(given.local.address(), given.local.port())),
                 given.stream ? "TCP" : "UDP");
#ifndef _WIN32
    ::close(given.fd);
#endif
  }
  inherited().clear();
}

worker_pool::worker_pool(unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<worker>());
}

result<listener_set, bind_failure> worker_pool::bind(const program_profile& profile,
                                                     const config& c) {
  listener_set l;
  auto port = listen_port(profile, c);
  listen_kind kind;
  // The Shadowsocks port takes Multipath TCP clients with `mptcp` (and plain TCP ones).
  kind.mptcp = c.mptcp && profile.listens_on_server_keys;
  kind.transparent_tcp = profile.id == program::redir && c.tcp_tproxy;
  kind.transparent_udp = profile.id == program::redir;
  for (const auto& host : listen_hosts(profile, c)) {
    try {
      for (const auto& ep : listen_endpoints(host, port)) {
        auto bound = bind_endpoint(workers_, l, ep, c, listens_tcp(profile, c),
                                   listens_udp(profile, c), kind);
        note_bound(l, bound, to_string(bound));
      }
    } catch (const transparent_refused& e) {
      return bind_failure{
          host, port, e.code(),
          " (IP_TRANSPARENT, for TPROXY: needs the CAP_NET_ADMIN capability, or CAP_NET_RAW)"};
    } catch (const boost::system::system_error& e) {
      return bind_failure{host, port, e.code(), {}};
    }
  }
  return l;
}

result<listener_set, bind_failure> worker_pool::bind_behind_plugin(const program_profile& profile,
                                                                   const config& c) {
  listener_set l;
  const bool udp = listens_udp(profile, c);
  // Not the public port: the plugin must be able to listen there (on 127.0.0.1 too).
  std::uint16_t picked = 0;
  do {
    picked = free_loopback_port();
  } while (picked == c.server_port);
  tcp::endpoint local(net::ip::address_v4::loopback(), picked);
  try {
    auto bound =
        bind_endpoint(workers_, l, local, c, listens_tcp(profile, c), udp && c.plugin_udp, {});
    // Piecewise: a prepend of a literal trips GCC 12's -Wrestrict at -O3.
    std::string line = to_string(bound);
    line += " (from the plugin on ";
    line += c.server_hosts.front();
    line += ':';
    line += std::to_string(c.server_port);
    line += ')';
    note_bound(l, bound, std::move(line));
  } catch (const boost::system::system_error& e) {
    return bind_failure{"127.0.0.1", 0, e.code(), {}};
  }
  if (!udp || c.plugin_udp) return l;
  // A tcp_only plugin: UDP still arrives at the public port, as with libev.
  auto port = listen_port(profile, c);
  for (const auto& host : listen_hosts(profile, c)) {
    try {
      for (const auto& ep : listen_endpoints(host, port)) {
        auto bound = bind_endpoint(workers_, l, ep, c, false, true, {});
        l.addresses.push_back(to_string(bound) + " (UDP)");
      }
    } catch (const boost::system::system_error& e) {
      return bind_failure{host, port, e.code(), {}};
    }
  }
  return l;
}

void worker_pool::start() {
  for (unsigned i = 0; i < workers_.size(); ++i) {
    workers_[i]->thread = std::thread([&ioc = workers_[i]->ioc, i] {
      set_worker_index(i);  // its own slot of every traffic counter
      ioc.run();
    });
  }
}

void worker_pool::serve(const listener_set& l, const program_profile& profile,
                        std::shared_ptr<const context_slot> slot) {
  for (const auto& a : l.acceptors) {
    auto loop = std::make_shared<accept_loop>(a.socket, slot, profile.tcp);
    net::post(a.on->ioc, [loop] { loop->run(); });
  }
  for (const auto& sock : l.datagram)
    net::co_spawn(workers_.front()->ioc, udp_loop(profile.udp, sock, slot), log_exception);
}

void worker_pool::close(const listener_set& l, bool wait) {
  // Each socket is closed on the thread that serves it.
  std::vector<std::pair<worker*, std::function<void()>>> jobs;
  for (const auto& a : l.acceptors) {
    jobs.emplace_back(a.on, [s = a.socket] {
      boost::system::error_code ignored;
      s->close(ignored);
    });
  }
  for (const auto& sock : l.datagram) {
    jobs.emplace_back(workers_.front().get(), [sock] {
      boost::system::error_code ignored;
      sock->close(ignored);
    });
  }
  auto done = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(jobs.size()));
  for (auto& [w, job] : jobs) {
    net::post(w->ioc, [job = std::move(job), done] {
      job();
      done->count_down();
    });
  }
  if (wait) done->wait();
}

void worker_pool::hand_over(const listener_set& l) {
  for (const auto& a : l.acceptors) {
    net::post(a.on->ioc, [s = a.socket] {
      // Taken out of this process's event loop, then closed: the socket itself lives on in
      // the new process, so a plain close would leave it registered here.
      boost::system::error_code ec;
      auto fd = s->release(ec);
#ifdef _WIN32
      if (!ec) ::closesocket(fd);
#else
      if (!ec) ::close(fd);
#endif
    });
  }
  for (const auto& sock : l.datagram) {
    net::post(workers_.front()->ioc, [sock] {
      boost::system::error_code ignored;
      sock->cancel(ignored);
    });
  }
}

void worker_pool::stop_and_join() {
  for (auto& w : workers_)
    w->ioc.stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace ss
