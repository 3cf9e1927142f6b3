#include "shadowsocks/runtime/asio.hpp"

#include <spdlog/spdlog.h>

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
