// A SIP003 plugin for the tests of the Windows build (tests/windows): it listens on
// SS_LOCAL_HOST:SS_LOCAL_PORT and forwards each connection, unchanged, to
// SS_REMOTE_HOST:SS_REMOTE_PORT. It prints where it listens and its SS_PLUGIN_OPTIONS, and
// stops on Ctrl-C, Ctrl-Break or SIGTERM.

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "shadowsocks/runtime/asio.hpp"

namespace {

using ss::awaitable;
using ss::tcp;
using ss::use_nothrow;
namespace net = ss::net;

awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
  std::array<char, 16384> buf;
  for (;;) {
    auto [ec, n] = co_await from->async_read_some(net::buffer(buf), use_nothrow);
    if (ec) break;
    auto [wec, written] = co_await net::async_write(*to, net::buffer(buf.data(), n), use_nothrow);
    if (wec) break;
  }
  boost::system::error_code ignored;
  to->shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> forward(tcp::socket accepted, tcp::endpoint remote) {
  auto client = std::make_shared<tcp::socket>(std::move(accepted));
  auto server = std::make_shared<tcp::socket>(client->get_executor());
  auto [ec] = co_await server->async_connect(remote, use_nothrow);
  if (ec) co_return;
  auto ex = client->get_executor();
  net::co_spawn(ex, pump(client, server), net::detached);
  net::co_spawn(ex, pump(server, client), net::detached);
}

awaitable<void> accept_loop(tcp::acceptor& acceptor, tcp::endpoint remote) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) co_return;
    net::co_spawn(acceptor.get_executor(), forward(std::move(socket), remote), net::detached);
  }
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

int main() {
  try {
    net::io_context ioc;
    tcp::endpoint local(net::ip::make_address(env("SS_LOCAL_HOST")),
                        static_cast<unsigned short>(std::atoi(env("SS_LOCAL_PORT"))));
    tcp::endpoint remote(net::ip::make_address(env("SS_REMOTE_HOST")),
                         static_cast<unsigned short>(std::atoi(env("SS_REMOTE_PORT"))));
    tcp::acceptor acceptor(ioc, local);
#ifdef _WIN32
    net::signal_set stop(ioc, SIGINT, SIGTERM, SIGBREAK);
#else
    net::signal_set stop(ioc, SIGINT, SIGTERM);
#endif
    stop.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
    net::co_spawn(ioc, accept_loop(acceptor, remote), net::detached);
    std::printf("forwarder: listening on port %u, to port %u, options \"%s\"\n",
                static_cast<unsigned>(local.port()), static_cast<unsigned>(remote.port()),
                env("SS_PLUGIN_OPTIONS"));
    std::fflush(stdout);
    ioc.run();
    std::printf("forwarder: stopped\n");
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "forwarder: %s\n", e.what());
    return 1;
  }
}
