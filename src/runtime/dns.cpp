#include "shadowsocks/runtime/dns.hpp"

#include <ares.h>
#ifndef _WIN32
#include <netinet/in.h>
#endif
#include <spdlog/spdlog.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "shadowsocks/codec/per_thread.hpp"

namespace ss {

namespace {

// One look-up: the coroutine waits on `done`, which the c-ares callback cancels once `result`
// is in. Shared with the callback, which may come after the coroutine was cancelled.
struct lookup_state {
  explicit lookup_state(const net::any_io_executor& ex) : done(ex) {
    done.expires_at(steady_clock::time_point::max());
  }
  net::steady_timer done;
  resolved result;
  bool finished = false;
  std::uint16_t port = 0;
  bool ipv6_first = false;
};

boost::system::error_code error_of(int status) {
  if (status == ARES_ETIMEOUT) return net::error::timed_out;
  return net::error::host_not_found;
}

// A c-ares channel on one thread's event loop: the sockets c-ares opens are watched with Asio
// (readiness only; c-ares reads and writes them itself) and its timeouts are one timer. On
// Windows, where Asio cannot watch a socket it did not open, they are polled with select()
// every few milliseconds while c-ares has any open.
class ares_client {
 public:
  ares_client(net::any_io_executor ex, const std::string& servers)
      : ex_(std::move(ex)), servers_(servers), timer_(ex_) {
    static std::once_flag init;
    std::call_once(init, [] { ::ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options options{};
    options.sock_state_cb = &ares_client::on_socket_state;
    options.sock_state_cb_data = this;
    // With name servers given (-d): DNS only, /etc/hosts is not consulted (libev's -d).
    // Without: the system's resolver, /etc/hosts first, then resolv.conf's name servers.
    char dns_only[] = "b";
    char hosts_then_dns[] = "fb";
    options.lookups = servers.empty() ? hosts_then_dns : dns_only;
    ok_ = ::ares_init_options(&channel_, &options, ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS) ==
              ARES_SUCCESS &&
          (servers.empty() ||
           ::ares_set_servers_ports_csv(channel_, servers.c_str()) == ARES_SUCCESS);
  }
  ~ares_client() {
    ::ares_destroy(channel_);  // calls pending callbacks with ARES_EDESTRUCTION
#ifndef _WIN32
    for (auto& [fd, w] : sockets_)
      w.descriptor->release();  // c-ares closes its sockets itself
#endif
  }
  ares_client(const ares_client&) = delete;
  ares_client& operator=(const ares_client&) = delete;

  const std::string& servers() const noexcept {
    return servers_;
  }

  void lookup(const std::string& host, std::shared_ptr<lookup_state> st) {
    if (!ok_) return finish(*st, ARES_ENOTINITIALIZED, nullptr);
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ::ares_getaddrinfo(channel_, host.c_str(), nullptr, &hints, &ares_client::on_result,
                       new std::shared_ptr<lookup_state>(std::move(st)));
    arm_timer();
  }

 private:
  struct watched {
#ifndef _WIN32
    std::unique_ptr<net::posix::stream_descriptor> descriptor;
#endif
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
  };

  static void finish(lookup_state& st, int status, ares_addrinfo* info) {
    st.finished = true;
    if (status != ARES_SUCCESS) {
      st.result = {error_of(status), {}};
    } else {
      std::vector<tcp::endpoint> out;
      for (auto* n = info->nodes; n != nullptr; n = n->ai_next) {
        if (n->ai_family == AF_INET) {
          const auto* a = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
          net::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), &a->sin_addr, 4);
          out.emplace_back(net::ip::address_v4(b), st.port);
        } else if (n->ai_family == AF_INET6) {
          const auto* a = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
          net::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &a->sin6_addr, 16);
          out.emplace_back(net::ip::address_v6(b), st.port);
        }
      }
      order_endpoints(out, st.ipv6_first);
      st.result = {out.empty() ? boost::system::error_code(net::error::host_not_found)
                               : boost::system::error_code{},
                   std::move(out)};
    }
    st.done.cancel();
  }

  static void on_result(void* arg, int status, int, ares_addrinfo* info) {
    std::unique_ptr<std::shared_ptr<lookup_state>> holder(
        static_cast<std::shared_ptr<lookup_state>*>(arg));
    finish(**holder, status, info);
    if (info != nullptr) ::ares_freeaddrinfo(info);
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<ares_client*>(data)->watch(fd, readable != 0, writable != 0);
  }

#ifndef _WIN32
  void watch(ares_socket_t fd, bool readable, bool writable) {
    if (!readable && !writable) {  // c-ares is about to close it
      if (auto it = sockets_.find(fd); it != sockets_.end()) {
        boost::system::error_code ignored;
        it->second.descriptor->cancel(ignored);
        it->second.descriptor->release();
        sockets_.erase(it);
      }
      return;
    }
    auto& w = sockets_[fd];
    if (!w.descriptor) w.descriptor = std::make_unique<net::posix::stream_descriptor>(ex_, fd);
    w.want_read = readable;
    w.want_write = writable;
    wait(fd, w);
  }

  // Waits for what c-ares wants of `fd` that is not already being waited for.
  void wait(ares_socket_t fd, watched& w) {
    if (w.want_read && !w.reading) {
      w.reading = true;
      w.descriptor->async_wait(
          net::posix::stream_descriptor::wait_read,
          [this, fd](const boost::system::error_code& ec) { ready(fd, ec, true); });
    }
    if (w.want_write && !w.writing) {
      w.writing = true;
      w.descriptor->async_wait(
          net::posix::stream_descriptor::wait_write,
          [this, fd](const boost::system::error_code& ec) { ready(fd, ec, false); });
    }
  }

  void ready(ares_socket_t fd, const boost::system::error_code& ec, bool read) {
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) return;  // closed meanwhile (its waits were cancelled)
    (read ? it->second.reading : it->second.writing) = false;
    if (ec) return;
    ::ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    if (auto again = sockets_.find(fd); again != sockets_.end()) wait(fd, again->second);
    arm_timer();
  }
#else
  void watch(ares_socket_t fd, bool readable, bool writable) {
    if (!readable && !writable) {
      sockets_.erase(fd);
      return;
    }
    sockets_[fd] = watched{readable, writable};
    poll_soon();
  }

  void poll_soon() {
    if (polling_) return;
    polling_ = true;
    poll_timer_.expires_after(std::chrono::milliseconds(5));
    poll_timer_.async_wait([this](const boost::system::error_code& ec) {
      polling_ = false;
      if (!ec) poll();
    });
  }

  void poll() {
    fd_set readable;
    fd_set writable;
    FD_ZERO(&readable);
    FD_ZERO(&writable);
    for (const auto& [fd, w] : sockets_) {
      if (w.want_read) FD_SET(fd, &readable);
      if (w.want_write) FD_SET(fd, &writable);
    }
    timeval now{};
    if (::select(0, &readable, &writable, nullptr, &now) > 0) {
      auto ready = sockets_;  // c-ares may close sockets while processing
      for (const auto& [fd, w] : ready) {
        bool r = FD_ISSET(fd, &readable) != 0;
        bool wr = FD_ISSET(fd, &writable) != 0;
        if (r || wr)
          ::ares_process_fd(channel_, r ? fd : ARES_SOCKET_BAD, wr ? fd : ARES_SOCKET_BAD);
      }
    }
    arm_timer();
    if (!sockets_.empty()) poll_soon();
  }
#endif

  // c-ares's next timeout (a retry, a give-up), if a query is pending.
  void arm_timer() {
    timeval tv{};
    if (::ares_timeout(channel_, nullptr, &tv) == nullptr) return;
    timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      ::ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      arm_timer();
    });
  }

  net::any_io_executor ex_;
  std::string servers_;
  net::steady_timer timer_;
  ares_channel channel_ = nullptr;
  bool ok_ = false;
  std::map<ares_socket_t, watched> sockets_;
#ifdef _WIN32
  net::steady_timer poll_timer_{ex_};  // the next select()
  bool polling_ = false;
#endif
};

}  // namespace

awaitable<resolved> resolve_through(const std::string& servers, const std::string& host,
                                    std::uint16_t port, bool ipv6_first) {
  auto ex = co_await net::this_coro::executor;
  // One channel per worker thread (every connection of a worker lives on its thread); a
  // reload that names other servers makes a new one.
  thread_local per_thread<std::unique_ptr<ares_client>> owned;
  auto& client = *owned;
  if (!client || client->servers() != servers) client = std::make_unique<ares_client>(ex, servers);
  auto st = std::make_shared<lookup_state>(ex);
  st->port = port;
  st->ipv6_first = ipv6_first;
  client->lookup(host, st);
  if (!st->finished) co_await st->done.async_wait(use_nothrow);
  co_return std::move(st->result);
}

}  // namespace ss
