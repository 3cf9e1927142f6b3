// Asio's implementation, compiled once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION
// keeps it out of every other translation unit, which saves build time), and the two helpers
// of shadowsocks/runtime/asio.hpp.
#include <spdlog/spdlog.h>
#include <boost/asio/impl/src.hpp>

#include "shadowsocks/runtime/asio.hpp"

namespace ss {

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("a task ended by an unexpected error: {}", ex.what());
  }
}

awaitable<void> sleep_for(steady_clock::duration d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(use_nothrow);
}

}  // namespace ss
